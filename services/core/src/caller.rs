//! Who is calling and what they may do: roles, scopes, and the caller every API route is
//! given once its token or session checked out.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::text_enum::text_enum;

text_enum! {
    /// What a user is; `users.role`.
    pub enum Role {
        /// Everything: users, other people's videos and keys, jobs, the audit log.
        Admin = "admin",
        /// Uploads and manages their own videos.
        Creator = "creator",
    }
}

text_enum! {
    /// What a key (or a session) may do; `api_tokens.scopes`, `sessions.scopes`.
    pub enum Scope {
        /// Read one's own videos (all videos with `admin`).
        VideosRead = "videos:read",
        /// Create, upload, edit and delete one's own videos, and make clips, captions, webhooks.
        VideosWrite = "videos:write",
        /// Everything an admin may do.
        Admin = "admin",
    }
}

impl Role {
    /// The most a key or session of a user with this role may carry.
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Self::Admin => Scope::ALL,
            Self::Creator => &[Scope::VideosRead, Scope::VideosWrite],
        }
    }
}

/// The built-in admin that `ADMIN_TOKEN` acts as (created by migration 0009).
pub const BUILTIN_ADMIN: Uuid = Uuid::from_u128(1);

/// A user as other objects show them (a video's owner, an audit event's actor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserRef {
    pub id: Uuid,
    pub username: String,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `ADMIN_TOKEN` itself.
    AdminToken,
    /// An API key (its id).
    Key(Uuid),
    /// A browser session (made with a password, or with the key it names).
    Session { key: Option<Uuid> },
}

/// An authenticated caller: a user, the scopes this request carries (never more than the
/// user's role allows), and the credential it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserRef,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub credential: Credential,
}

impl Caller {
    /// `ADMIN_TOKEN`: the built-in admin with every scope.
    pub fn admin_token() -> Self {
        Self {
            user: UserRef {
                id: BUILTIN_ADMIN,
                username: "admin".into(),
            },
            role: Role::Admin,
            scopes: Scope::ALL.to_vec(),
            credential: Credential::AdminToken,
        }
    }

    /// Builds a caller, dropping any scope the role no longer allows (a user demoted after the
    /// key was made).
    pub fn new(user: UserRef, role: Role, scopes: &[Scope], credential: Credential) -> Self {
        let scopes = scopes
            .iter()
            .copied()
            .filter(|s| role.scopes().contains(s))
            .collect();
        Self {
            user,
            role,
            scopes,
            credential,
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether this caller sees and changes every user's videos.
    pub fn sees_all(&self) -> bool {
        self.has(Scope::Admin)
    }

    /// Whether a video owned by `owner` exists for this caller (others' answer 404).
    pub fn may_see(&self, owner: Uuid) -> bool {
        self.sees_all() || owner == self.user.id
    }

    /// `None` when the caller sees every video; else only theirs: the owner filter of lists.
    pub fn owner_filter(&self) -> Option<Uuid> {
        (!self.sees_all()).then_some(self.user.id)
    }

    /// The scopes a key made by this caller for a user of role `for_role` may have: never
    /// more than that role allows, nor than this caller carries.
    pub fn may_grant(&self, for_role: Role, wanted: &[Scope]) -> Result<(), Scope> {
        match wanted
            .iter()
            .find(|s| !for_role.scopes().contains(s) || !self.has(**s))
        {
            Some(&refused) => Err(refused),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_enum::assert_names_round_trip;

    fn creator(scopes: &[Scope]) -> Caller {
        let user = UserRef {
            id: Uuid::from_u128(7),
            username: "c".into(),
        };
        Caller::new(user, Role::Creator, scopes, Credential::Key(Uuid::nil()))
    }

    #[test]
    fn names_round_trip() {
        assert_names_round_trip(Role::ALL);
        assert_names_round_trip(Scope::ALL);
        assert_eq!(Scope::VideosWrite.as_str(), "videos:write");
    }

    #[test]
    fn a_creator_never_carries_admin() {
        let c = creator(Scope::ALL);
        assert_eq!(c.scopes, vec![Scope::VideosRead, Scope::VideosWrite]);
        assert!(!c.sees_all());
        assert_eq!(c.owner_filter(), Some(Uuid::from_u128(7)));
        assert!(c.may_see(Uuid::from_u128(7)) && !c.may_see(BUILTIN_ADMIN));
    }

    #[test]
    fn grants_stay_within_the_role_and_the_caller() {
        let read_only = creator(&[Scope::VideosRead]);
        assert_eq!(
            read_only.may_grant(Role::Creator, &[Scope::VideosWrite]),
            Err(Scope::VideosWrite)
        );
        assert_eq!(
            read_only.may_grant(Role::Creator, &[Scope::VideosRead]),
            Ok(())
        );
        let admin = Caller::admin_token();
        assert!(admin.sees_all() && admin.may_see(Uuid::from_u128(7)));
        assert_eq!(
            admin.may_grant(Role::Creator, &[Scope::Admin]),
            Err(Scope::Admin)
        );
        assert_eq!(admin.may_grant(Role::Admin, Scope::ALL), Ok(()));
    }
}
