//! TODO(secret): being written
