//! fal's webhook signatures: Ed25519 over
//! `request_id + "\n" + user_id + "\n" + timestamp + "\n" + hex(sha256(body))`, hex in
//! `X-Fal-Webhook-Signature`, verified by receivers against the keys of a JWKS
//! (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": <base64url public key>}]}`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The exact bytes fal signs for one webhook delivery.
pub fn message(request_id: &str, user_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(body));
    format!("{request_id}\n{user_id}\n{timestamp}\n{digest}").into_bytes()
}

/// A signing key and the key id it is published under.
pub struct Key {
    signing: SigningKey,
    pub kid: String,
}

impl Key {
    /// A fresh random key: each simulator signs with its own.
    pub fn generate() -> Key {
        // ed25519-dalek 2 takes rand_core 0.6; the workspace's rand is 0.9. A secret key
        // is any 32 random bytes, so draw them and skip the trait bridge.
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let kid = hex::encode(&Sha256::digest(signing.verifying_key().as_bytes())[..8]);
        Key { signing, kid }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The hex signature of `message`.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }

    /// This key as one JWKS entry.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes()),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn the_signed_message_is_ids_timestamp_and_body_digest() {
        let m = message("req-1", "user-9", 1_752_019_770, b"{}");
        assert_eq!(
            String::from_utf8(m).unwrap(),
            // sha256("{}")
            "req-1\nuser-9\n1752019770\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn a_signature_verifies_with_the_key_the_jwks_publishes() {
        let key = Key::generate();
        let jwk = key.jwk();
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
        let x: [u8; 32] = URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let public = VerifyingKey::from_bytes(&x).unwrap();
        let msg = message("r", "u", 5, b"body");
        let sig: [u8; 64] = hex::decode(key.sign_hex(&msg)).unwrap().try_into().unwrap();
        let sig = Signature::from_bytes(&sig);
        assert!(public.verify(&msg, &sig).is_ok());
        assert!(public.verify(&message("r", "u", 6, b"body"), &sig).is_err());
        assert!(Key::generate().verifying_key().verify(&msg, &sig).is_err());
    }
}
