//! PLACEHOLDER: the sync loop (owned by the sync work).
