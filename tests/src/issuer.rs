//! The local token issuer: what stands in for Cognito (or any OIDC provider) on a developer's
//! machine and in the tests. An RS256 key pair; its public half as a JWKS document, which the
//! functions verify tokens against when `LOCAL_JWKS_FILE` names it; tokens for any user.
//!
//! `make dev` keeps one pair under `.local/jwt/` (`private.pem`, PKCS#8, and `jwks.json`), so
//! any JWT library can mint local tokens too; the tests make their own in memory.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::config::{DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER};

pub struct LocalIssuer {
    key: RsaPrivateKey,
    signing: EncodingKey,
    kid: String,
    pub issuer: String,
    pub audience: String,
}

impl LocalIssuer {
    /// A new key pair (about a second), issuing as `JWT_ISSUER` for `JWT_AUDIENCE`.
    pub fn generate() -> Self {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key");
        Self::from_key(key)
    }

    /// The pair kept in `dir`, made there first if it is not there yet.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        let private = dir.join("private.pem");
        let issuer = if private.exists() {
            let pem = std::fs::read_to_string(&private)
                .map_err(|e| format!("{}: {e}", private.display()))?;
            let key = RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| format!("{}: {e}", private.display()))?;
            Self::from_key(key)
        } else {
            let issuer = Self::generate();
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            write_private(&private, &issuer.private_pem())?;
            issuer
        };
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, issuer.jwks()).map_err(|e| format!("{}: {e}", jwks.display()))?;
        Ok(issuer)
    }

    fn from_key(key: RsaPrivateKey) -> Self {
        // jsonwebtoken (ring) signs with a PKCS#1 DER key.
        let der = key.to_pkcs1_der().expect("the key encodes");
        let signing = EncodingKey::from_rsa_der(der.as_bytes());
        // The key id: a digest of the modulus, so that each pair has its own.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(key.n().to_bytes_be())[..12]);
        let var = |name, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Self {
            key,
            signing,
            kid,
            issuer: var("JWT_ISSUER", DEFAULT_JWT_ISSUER),
            audience: var("JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE),
        }
    }

    /// The private key, PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        let pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("the key encodes");
        pem.to_string()
    }

    /// The public key, SPKI PEM.
    pub fn public_pem(&self) -> String {
        let public = self.key.to_public_key();
        public
            .to_public_key_pem(LineEnding::LF)
            .expect("the key encodes")
    }

    /// The public key as a JWKS document.
    pub fn jwks(&self) -> String {
        let b64 = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
        let key = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(self.key.n()), "e": b64(self.key.e()),
        });
        serde_json::to_string_pretty(&json!({ "keys": [key] })).expect("JSON")
    }

    /// A token for `user`, valid from now for `ttl_secs`.
    pub fn token(&self, user: &str, ttl_secs: i64) -> String {
        let now = unix_now();
        self.sign(json!({
            "sub": user, "iss": self.issuer, "aud": self.audience,
            "iat": now, "nbf": now, "exp": now + ttl_secs,
        }))
    }

    /// Any claims, signed RS256 with this issuer's key.
    pub fn sign(&self, claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.signing).expect("the token signs")
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The private key, readable by its owner only.
fn write_private(path: &Path, pem: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}
