//! PLACEHOLDER: the translator (owned by the translator work).
