//! TODO(keys): being written
