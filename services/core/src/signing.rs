//! Keyed signatures the services hand out and check later (playback URLs; webhook bodies),
//! HMAC-SHA256 over a message, with keys kept in Postgres so that every process of a fleet
//! signs and checks alike.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgExecutor;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `message` under `key`.
pub fn sign(key: &[u8], message: &[u8]) -> [u8; 32] {
    // Any key length is valid for HMAC: `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `tag` (the whole signature, or a prefix of at least 16 bytes of it) is `message`'s
/// under `key`. The comparison takes the same time whatever the tag.
pub fn verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    if tag.len() < 16 {
        return false;
    }
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_truncated_left(tag).is_ok()
}

/// The key called `name`, made (32 random bytes) by the first process that asks for it.
pub async fn key(db: impl PgExecutor<'_> + Copy, name: &str) -> Result<Vec<u8>, sqlx::Error> {
    let fresh: [u8; 32] = rand::random();
    sqlx::query!(
        "insert into signing_keys (name, key) values ($1, $2) on conflict (name) do nothing",
        name,
        &fresh[..],
    )
    .execute(db)
    .await?;
    sqlx::query_scalar!("select key from signing_keys where name = $1", name)
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::{sign, verify};

    #[test]
    fn matches_rfc_4231_test_case_2() {
        let tag = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            super::hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_whole_and_truncated_tags_and_nothing_else() {
        let tag = sign(b"key", b"message");
        assert!(verify(b"key", b"message", &tag));
        assert!(verify(b"key", b"message", &tag[..16]));
        assert!(!verify(b"key", b"message", &tag[..15]));
        assert!(!verify(b"key", b"massage", &tag));
        assert!(!verify(b"other", b"message", &tag));
        let mut flipped = tag;
        flipped[3] ^= 1;
        assert!(!verify(b"key", b"message", &flipped));
    }
}
