//! TODO(jwt): being written
