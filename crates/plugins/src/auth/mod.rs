//! Pure credential checks of the authentication plugins (no I/O).

pub mod hmac_signature;
pub mod jwt_token;
