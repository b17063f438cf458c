//! Who watched, without keeping who they are: a view counts once per viewer per video per day
//! ([`crate::videos::count_view`]), and a viewer is a digest of the day's random salt (table
//! `view_salts`), the day, the client address and the user agent. The salt of a past day is
//! swept, and with it any way to tell which address a digest stood for.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use time::Date;
use uuid::Uuid;

use crate::videos;

/// Longest user agent that goes into a digest; the rest adds nothing but hashing work.
const MAX_USER_AGENT: usize = 512;

/// Today's salt (the database's `current_date`), made by the first view of the day.
pub async fn todays_salt(db: &sqlx::PgPool) -> Result<(Date, Vec<u8>), sqlx::Error> {
    // Two processes making the first view of a day at once: the one whose insert lost sees
    // neither row in its snapshot and reads again.
    for _ in 0..3 {
        let fresh: [u8; 32] = rand::random();
        let found = sqlx::query!(
            r#"with made as (
                   insert into view_salts (day, salt)
                   select current_date, $1
                   where not exists (select 1 from view_salts where day = current_date)
                   on conflict do nothing
                   returning day, salt
               )
               select day as "day!", salt as "salt!" from made
               union all
               select day, salt from view_salts where day = current_date
               limit 1"#,
            &fresh[..],
        )
        .fetch_optional(db)
        .await?;
        if let Some(row) = found {
            return Ok((row.day, row.salt));
        }
    }
    Err(sqlx::Error::RowNotFound)
}

/// The digest a viewer is counted by on `day`.
pub fn digest(salt: &[u8], day: Date, ip: Option<IpAddr>, user_agent: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(day.to_string().as_bytes());
    hash.update([0]);
    if let Some(ip) = ip {
        hash.update(ip.to_string().as_bytes());
    }
    hash.update([0]);
    let agent = user_agent.as_bytes();
    hash.update(&agent[..agent.len().min(MAX_USER_AGENT)]);
    hash.finalize().into()
}

/// Counts a view of `video` by the viewer at `ip` with `user_agent`, once a day; returns
/// whether it counted.
pub async fn count(
    db: &sqlx::PgPool,
    video: Uuid,
    ip: Option<IpAddr>,
    user_agent: &str,
) -> Result<bool, sqlx::Error> {
    let (day, salt) = todays_salt(db).await?;
    videos::count_view(db, video, &digest(&salt, day, ip, user_agent)).await
}

/// Forgets the salts of past days (the digests made with them become meaningless) and the
/// digests of days before yesterday.
pub async fn sweep(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let salts = sqlx::query!("delete from view_salts where day < current_date")
        .execute(db)
        .await?;
    Ok(salts.rows_affected() + videos::sweep_views(db).await?)
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn a_digest_depends_on_every_part() {
        let day = time::macros::date!(2024 - 05 - 01);
        let ip = Some("192.0.2.7".parse().expect("an address"));
        let base = digest(b"salt", day, ip, "Firefox");
        assert_eq!(base, digest(b"salt", day, ip, "Firefox"));
        assert_ne!(base, digest(b"other", day, ip, "Firefox"));
        assert_ne!(
            base,
            digest(b"salt", day.next_day().expect("a day"), ip, "Firefox")
        );
        assert_ne!(base, digest(b"salt", day, None, "Firefox"));
        assert_ne!(base, digest(b"salt", day, ip, "Chrome"));
        // Only the first 512 bytes of a user agent count.
        let long = "x".repeat(600);
        assert_eq!(
            digest(b"salt", day, ip, &long),
            digest(b"salt", day, ip, &long[..512])
        );
    }
}
