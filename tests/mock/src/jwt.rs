//! The mock's OpenID Connect signing key.
//!
//! The RSA key pair in `src/keys/` is a **public test key, not a secret**: it was generated once
//! with `openssl genrsa 2048` for this crate and is published with it. Anything signed with it
//! proves nothing outside tests. The JWK values below are that key's modulus and exponent,
//! computed once (no key generation at runtime).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The test private key (PKCS#1 PEM). Public knowledge: never trust tokens it signed.
pub const TEST_RSA_PRIVATE_KEY_PEM: &str = include_str!("keys/test-rsa-private.pem");
/// The matching public key (SPKI PEM).
pub const TEST_RSA_PUBLIC_KEY_PEM: &str = include_str!("keys/test-rsa-public.pem");
/// The key id (`kid`) in id_token headers and in `/oauth2/keys`.
pub const KEY_ID: &str = "discord-oauth-mock-rs256-1";
/// The JWK modulus (`n`, base64url).
pub const JWK_N: &str = "naLwjKTgq67e-rVovJFZRCyuFNTVr2UmZ1v499LPwsgSFq71_lHWlFYB0z8PQ1bGdjIxlvmiBNAOiUx9mLO7AdiS_gpdzYCGPwobmInQDq-dPkEFnWnLF2dzUX0rSRfylMAq_207ziyyoBWOqDM-bhSfbpH1y9wkOoO_IgbynbqefLyEoTzhodj-PShGK9NOHu9xPdfwSZn5P7QveE21SnjZuog2zQKAan41qTRFCgMWxxZ1AsSK13uU0ampac_D9W00JxhGkCfYEuje4Tq14wHph575V47-c8Qwo4xyM5tK-nH5SvvKlBXyusP0vJc2DYXUL_Ue3T5UUMSUifx5GQ";
/// The JWK exponent (`e`, base64url).
pub const JWK_E: &str = "AQAB";

/// The JWKS document served at `/oauth2/keys` (`OAuth2GetKeys`).
pub(crate) fn jwks() -> Value {
    json!({
        "keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": KEY_ID,
            "n": JWK_N,
            "e": JWK_E,
            "alg": "RS256",
        }]
    })
}

/// Signs claims with the test key (RS256, `kid` set).
pub(crate) fn sign(claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
    let key = EncodingKey::from_rsa_pem(TEST_RSA_PRIVATE_KEY_PEM.as_bytes())?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_owned());
    jsonwebtoken::encode(&header, claims, &key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    #[test]
    fn signed_tokens_verify_with_the_published_jwk_and_pem() {
        let now = crate::util::unix_secs(std::time::SystemTime::now());
        let claims = json!({"iss": "https://discord.com", "sub": "1", "aud": "2", "exp": now + 60, "iat": now});
        let t = sign(&claims).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["2"]);
        v.set_issuer(&["https://discord.com"]);
        let by_jwk = DecodingKey::from_rsa_components(JWK_N, JWK_E).unwrap();
        let d = decode::<Value>(&t, &by_jwk, &v).unwrap();
        assert_eq!(d.claims["sub"], "1");
        assert_eq!(d.header.kid.as_deref(), Some(KEY_ID));
        let by_pem = DecodingKey::from_rsa_pem(TEST_RSA_PUBLIC_KEY_PEM.as_bytes()).unwrap();
        decode::<Value>(&t, &by_pem, &v).unwrap();
    }
}
