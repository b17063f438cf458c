//! CloudFront signed URLs with a custom policy: how the API hands out unlisted and private
//! videos in AWS. One policy covers one version of a video (`https://CDN/videos/{id}/signed/{n}/*`)
//! until an expiry, so one RSA signature serves every playlist and segment of that version.
//!
//! CloudFront checks the `Policy`, `Signature` and `Key-Pair-Id` query parameters against the
//! public keys of the distribution's trusted key group: the signature is RSA-SHA1 PKCS#1 v1.5
//! over the exact policy bytes, and both are in CloudFront's URL-safe base64 (`+` → `-`,
//! `=` → `_`, `/` → `~`).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;
use sha1::Sha1;
use time::OffsetDateTime;

/// CloudFront accepts 2048-bit RSA keys in a key group; a smaller key is a mistake.
const MIN_KEY_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "CLOUDFRONT_PRIVATE_KEY is not an RSA private key in PEM (`-----BEGIN RSA PRIVATE KEY-----` \
         or `-----BEGIN PRIVATE KEY-----`, e.g. from `openssl genrsa`)"
    )]
    NotAnRsaPrivateKey,
    #[error("CLOUDFRONT_PRIVATE_KEY is a {0}-bit RSA key: CloudFront needs 2048 bits")]
    TooSmall(usize),
    #[error(
        "CLOUDFRONT_KEY_PAIR_ID must be the id of a CloudFront public key (letters and digits, \
         such as K2JCJMDEHXQW5F), not {0:?}"
    )]
    BadKeyPairId(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing a CloudFront policy failed: {0}")]
    Rsa(#[from] rsa::signature::Error),
    #[error("writing a CloudFront policy failed: {0}")]
    Json(#[from] serde_json::Error),
}

/// The id of the CloudFront public key that verifies the signatures (`Key-Pair-Id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPairId(String);

impl FromStr for KeyPairId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        // Letters and digits only, so the id goes into a query string as it is.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::BadKeyPairId(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

/// The RSA private key the signatures are made with. `Debug` never shows it.
#[derive(Clone)]
pub struct PrivateKey(SigningKey<Sha1>);

impl PrivateKey {
    /// A PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| KeyError::NotAnRsaPrivateKey)?;
        let bits = key.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooSmall(bits));
        }
        Ok(Self(SigningKey::new(key)))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

/// Signs CloudFront custom policies with one key pair.
#[derive(Clone, Debug)]
pub struct CloudFrontSigner {
    key_pair_id: KeyPairId,
    key: PrivateKey,
}

/// The query parameters of a signed URL, already in CloudFront's URL-safe base64 (none of
/// them needs percent-encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPolicy {
    pub policy: String,
    pub signature: String,
    pub key_pair_id: String,
}

impl CloudFrontSigner {
    pub fn new(key_pair_id: KeyPairId, key: PrivateKey) -> Self {
        Self { key_pair_id, key }
    }

    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, KeyError> {
        Ok(Self::new(key_pair_id.parse()?, PrivateKey::from_pem(pem)?))
    }

    /// A policy admitting every URL that `resource` matches (`*` is CloudFront's wildcard)
    /// until `expires_at`, signed.
    pub fn sign_policy(
        &self,
        resource: &str,
        expires_at: OffsetDateTime,
    ) -> Result<SignedPolicy, SignError> {
        let policy = policy_json(resource, expires_at)?;
        // Randomized: RSA blinding, so the time a signature takes says nothing of the key.
        let signature = self
            .key
            .0
            .try_sign_with_rng(&mut rsa::rand_core::OsRng, policy.as_bytes())?;
        Ok(SignedPolicy {
            policy: cloudfront_base64(policy.as_bytes()),
            signature: cloudfront_base64(&signature.to_bytes()),
            key_pair_id: self.key_pair_id.0.clone(),
        })
    }
}

impl SignedPolicy {
    /// `Policy=…&Signature=…&Key-Pair-Id=…`
    pub fn query(&self) -> String {
        format!(
            "Policy={}&Signature={}&Key-Pair-Id={}",
            self.policy, self.signature, self.key_pair_id
        )
    }

    /// `url` with the signature's parameters appended to its query (before any fragment).
    pub fn append_to(&self, url: &str) -> String {
        let (base, fragment) = match url.split_once('#') {
            Some((base, fragment)) => (base, Some(fragment)),
            None => (url, None),
        };
        let separator = match base.find('?') {
            None => "?",
            Some(_) if base.ends_with('?') || base.ends_with('&') => "",
            Some(_) => "&",
        };
        let mut signed = format!("{base}{separator}{}", self.query());
        if let Some(fragment) = fragment {
            signed.push('#');
            signed.push_str(fragment);
        }
        signed
    }
}

/// `{"Statement":[{"Resource":"…","Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}`, with
/// no whitespace: the signature covers these exact bytes, and CloudFront reads them back from
/// the `Policy` parameter.
fn policy_json(resource: &str, expires_at: OffsetDateTime) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Policy<'a> {
        statement: [Statement<'a>; 1],
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Statement<'a> {
        resource: &'a str,
        condition: Condition,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Condition {
        date_less_than: EpochTime,
    }
    #[derive(Serialize)]
    struct EpochTime {
        #[serde(rename = "AWS:EpochTime")]
        epoch_time: i64,
    }
    let policy = Policy {
        statement: [Statement {
            resource,
            condition: Condition {
                date_less_than: EpochTime {
                    epoch_time: expires_at.unix_timestamp(),
                },
            },
        }],
    };
    serde_json::to_string(&policy)
}

/// Base64 with CloudFront's substitutions for the characters a query string would mangle.
/// The bytes a [`SignedPolicy`] field stands for (its policy JSON, its signature), for
/// whoever checks one.
pub fn from_cloudfront_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    STANDARD.decode(standard)
}

fn cloudfront_base64(bytes: &[u8]) -> String {
    STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use time::macros::datetime;

    use super::*;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (./dev installs it)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).expect("key file")
    }

    /// A fresh RSA key made by the `openssl` CLI as PKCS#8 `{name}.pem`.
    fn openssl_rsa_key(dir: &Path, name: &str, bits: u32) -> String {
        let file = format!("{name}.pem");
        let bits = format!("rsa_keygen_bits:{bits}");
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &bits,
                "-out",
                &file,
            ],
        );
        read(dir, &file)
    }

    /// A fresh 2048-bit key: PKCS#8 `key.pem`, the same as PKCS#1 `key1.pem`, the public half
    /// `pub.pem`.
    fn openssl_key(dir: &Path) -> (String, String) {
        let pkcs8 = openssl_rsa_key(dir, "key", 2048);
        openssl(
            dir,
            &["rsa", "-in", "key.pem", "-traditional", "-out", "key1.pem"],
        );
        openssl(
            dir,
            &["rsa", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        );
        (pkcs8, read(dir, "key1.pem"))
    }

    /// Whether `openssl dgst -sha1 -verify pub.pem` accepts `signature` over `policy`.
    fn openssl_verifies(dir: &Path, policy: &[u8], signature: &[u8]) -> bool {
        std::fs::write(dir.join("policy.json"), policy).expect("write policy");
        std::fs::write(dir.join("sig.bin"), signature).expect("write signature");
        let out = Command::new("openssl")
            .args([
                "dgst",
                "-sha1",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.bin",
                "policy.json",
            ])
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        out.status.success()
    }

    #[test]
    fn openssl_verifies_the_signature_of_the_exact_policy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (pkcs8, pkcs1) = openssl_key(dir.path());
        let resource = "https://d111111abcdef8.cloudfront.net/videos/0190c7a2-5b1e-7c3d-9f00-123456789abc/signed/3/*";
        let expires = datetime!(2030-01-01 00:00 UTC);
        for pem in [&pkcs8, &pkcs1] {
            let signer = CloudFrontSigner::from_pem("K2JCJMDEHXQW5F", pem).expect("key parses");
            let signed = signer.sign_policy(resource, expires).expect("signs");
            assert_eq!(signed.key_pair_id, "K2JCJMDEHXQW5F");

            let policy = from_cloudfront_base64(&signed.policy).expect("CloudFront base64");
            assert_eq!(
                String::from_utf8_lossy(&policy),
                format!(
                    r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":1893456000}}}}}}]}}"#
                )
            );
            for text in [&signed.policy, &signed.signature] {
                assert!(!text.contains(['+', '=', '/']), "{text}");
            }
            let signature = from_cloudfront_base64(&signed.signature).expect("CloudFront base64");
            assert_eq!(signature.len(), 256);
            assert!(openssl_verifies(dir.path(), &policy, &signature));

            // A longer expiry (or any other change) breaks the signature.
            let tampered = String::from_utf8_lossy(&policy).replace("1893456000", "1893456001");
            assert!(!openssl_verifies(
                dir.path(),
                tampered.as_bytes(),
                &signature
            ));
        }
    }

    #[test]
    fn the_parameters_join_any_url() {
        let signed = SignedPolicy {
            policy: "P".into(),
            signature: "S".into(),
            key_pair_id: "K".into(),
        };
        let query = "Policy=P&Signature=S&Key-Pair-Id=K";
        for (url, expected) in [
            (
                "https://cdn/v/master.m3u8",
                format!("https://cdn/v/master.m3u8?{query}"),
            ),
            (
                "https://cdn/v/a.m3u8?x=1",
                format!("https://cdn/v/a.m3u8?x=1&{query}"),
            ),
            (
                "https://cdn/v/a.m3u8?",
                format!("https://cdn/v/a.m3u8?{query}"),
            ),
            (
                "https://cdn/v/a.vtt#xywh=0,0,1,1",
                format!("https://cdn/v/a.vtt?{query}#xywh=0,0,1,1"),
            ),
        ] {
            assert_eq!(signed.append_to(url), expected);
        }
    }

    #[test]
    fn bad_keys_are_refused_with_a_clear_error_and_never_shown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (pkcs8, _) = openssl_key(dir.path());
        let public = read(dir.path(), "pub.pem");
        for pem in ["", "not a key", public.as_str(), &pkcs8[..pkcs8.len() / 2]] {
            let err = PrivateKey::from_pem(pem).expect_err("refused");
            assert!(
                err.to_string().contains("not an RSA private key in PEM"),
                "{err}"
            );
        }
        let small = openssl_rsa_key(dir.path(), "small", 1024);
        let err = PrivateKey::from_pem(&small).expect_err("too small");
        assert!(err.to_string().contains("1024-bit"), "{err}");
        for id in ["", "K2 J", "K2&x=1"] {
            let err = CloudFrontSigner::from_pem(id, &pkcs8).expect_err("refused");
            assert!(err.to_string().contains("CLOUDFRONT_KEY_PAIR_ID"), "{err}");
        }

        let signer = CloudFrontSigner::from_pem("K2JCJMDEHXQW5F", &pkcs8).expect("parses");
        let shown = format!("{signer:?}");
        assert!(
            shown.contains("K2JCJMDEHXQW5F") && shown.contains("[redacted]"),
            "{shown}"
        );
        // Nothing of the key: not the PEM, not a long run of digits (a key component).
        let body: String = pkcs8.lines().nth(1).unwrap_or_default().into();
        assert!(!shown.contains(&body[..16]), "{shown}");
        assert!(shown.len() < 200, "{shown}");
    }
}
