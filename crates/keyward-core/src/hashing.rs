//! TODO(hashing): being written
