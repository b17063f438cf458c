//! `vodnest users ...` and `vodnest keys ...`: people and their API keys, over the HTTP API.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

use crate::CliError;
use crate::api::ApiClient;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user; prints the invite link that lets them set their password.
    Add {
        username: String,
        #[arg(long, value_enum, default_value_t = RoleArg::Creator)]
        role: RoleArg,
    },
    /// Every user.
    List,
    /// Remove a user (by id or username): their keys stop working, their videos are deleted
    /// unless given to another user.
    Remove {
        user: String,
        /// Give their videos to this user (id or username) instead of deleting them.
        #[arg(long)]
        transfer_to: Option<String>,
    },
    /// A fresh invite link for a user (the previous one stops working).
    Invite { user: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Creator,
    Admin,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key; prints its token, which is shown only this once.
    Create {
        name: String,
        /// A scope the key gets (repeat for more): videos:read, videos:write, admin.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// When the key stops working (RFC 3339, e.g. 2030-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// Make it for this user (id or username; admins only) instead of yourself.
        #[arg(long)]
        user: Option<String>,
    },
    /// Your keys (never their tokens).
    List,
    /// Revoke a key by id: it is refused from now on.
    Revoke { key_id: String },
}

const USER_FIELDS: [&str; 4] = ["id", "username", "role", "created_at"];
const KEY_FIELDS: [&str; 7] = [
    "id",
    "name",
    "scopes",
    "prefix",
    "created_at",
    "expires_at",
    "last_used_at",
];

pub async fn users(
    api: &ApiClient,
    json: bool,
    command: UsersCommand,
) -> Result<ExitCode, CliError> {
    match command {
        UsersCommand::Add { username, role } => {
            let role = match role {
                RoleArg::Creator => "creator",
                RoleArg::Admin => "admin",
            };
            let body = json!({"username": username, "role": role});
            let added = api.call(Method::POST, "/users", Some(&body)).await?;
            if json {
                println!("{added}");
            } else {
                println!("{}", user_table(std::slice::from_ref(&added["user"])));
                println!("invite link: {}", output::cell(&added["invite_url"]));
            }
        }
        UsersCommand::List => {
            let list = api.call(Method::GET, "/users", None).await?;
            if json {
                println!("{list}");
            } else {
                println!(
                    "{}",
                    user_table(list["users"].as_array().map_or(&[][..], Vec::as_slice))
                );
            }
        }
        UsersCommand::Remove { user, transfer_to } => {
            let id = user_id(api, &user).await?;
            let mut path = format!("/users/{id}");
            if let Some(to) = transfer_to {
                path.push_str(&format!("?transfer_to={}", user_id(api, &to).await?));
            }
            api.call(Method::DELETE, &path, None).await?;
            done(json, &format!("removed {user}"));
        }
        UsersCommand::Invite { user } => {
            let id = user_id(api, &user).await?;
            let path = format!("/users/{id}/invite");
            let invite = api.call(Method::POST, &path, None).await?;
            if json {
                println!("{invite}");
            } else {
                println!("invite link: {}", output::cell(&invite["invite_url"]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn keys(api: &ApiClient, json: bool, command: KeysCommand) -> Result<ExitCode, CliError> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_at,
            user,
        } => {
            let path = match user {
                Some(user) => format!("/users/{}/keys", user_id(api, &user).await?),
                None => "/keys".to_owned(),
            };
            let mut body = json!({"name": name, "scopes": scopes});
            if let Some(at) = expires_at {
                body["expires_at"] = Value::String(at);
            }
            let made = api.call(Method::POST, &path, Some(&body)).await?;
            if json {
                println!("{made}");
            } else {
                println!("{}", key_table(std::slice::from_ref(&made["key"])));
                println!("token (shown only now): {}", output::cell(&made["token"]));
            }
        }
        KeysCommand::List => {
            let list = api.call(Method::GET, "/keys", None).await?;
            if json {
                println!("{list}");
            } else {
                println!(
                    "{}",
                    key_table(list["keys"].as_array().map_or(&[][..], Vec::as_slice))
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            api.call(Method::DELETE, &format!("/keys/{key_id}"), None)
                .await?;
            done(json, &format!("revoked {key_id}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn user_table(users: &[Value]) -> String {
    output::table(
        &["ID", "USERNAME", "ROLE", "CREATED"],
        &output::rows(users, &USER_FIELDS),
    )
}

fn key_table(keys: &[Value]) -> String {
    let header = [
        "ID",
        "NAME",
        "SCOPES",
        "PREFIX",
        "CREATED",
        "EXPIRES",
        "LAST USED",
    ];
    output::table(&header, &output::rows(keys, &KEY_FIELDS))
}

/// A change without an answer: a sentence for people, `{"ok": true}` for scripts.
pub fn done(json: bool, what: &str) {
    if json {
        println!("{}", json!({"ok": true}));
    } else {
        println!("{what}");
    }
}

/// The id of a user named by id or username (usernames are looked up in the user list).
async fn user_id(api: &ApiClient, user: &str) -> Result<String, CliError> {
    let list = api.call(Method::GET, "/users", None).await?;
    list["users"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["id"] == user || u["username"] == user)
        .and_then(|u| u["id"].as_str().map(str::to_owned))
        .ok_or_else(|| CliError(format!("there is no user {user:?}")))
}
