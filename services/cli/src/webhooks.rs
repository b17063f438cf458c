//! `vodnest webhooks ...`: your webhook endpoints and their delivery logs, over the HTTP API.

use std::process::ExitCode;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::CliError;
use crate::accounts::done;
use crate::api::ApiClient;
use crate::output;

/// Every event a webhook can ask for.
const EVENTS: [&str; 5] = [
    "upload.completed",
    "video.playable",
    "video.ready",
    "video.failed",
    "video.deleted",
];

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its signing secret, shown only this once.
    Add {
        /// Where deliveries are POSTed (https://…; must resolve to public addresses).
        url: String,
        /// An event to send (repeat for more); every event when none is given.
        #[arg(long = "event", value_parser = clap::builder::PossibleValuesParser::new(EVENTS))]
        events: Vec<String>,
    },
    /// Your endpoints (never their secrets).
    List,
    /// Remove an endpoint by id; its pending deliveries are dropped.
    Remove { webhook_id: String },
    /// An endpoint's delivery log, newest first.
    Deliveries {
        webhook_id: String,
        /// How many (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a finished delivery again (same id and body).
    Redeliver {
        webhook_id: String,
        delivery_id: String,
    },
}

const WEBHOOK_FIELDS: [&str; 4] = ["id", "url", "events", "created_at"];
const DELIVERY_FIELDS: [&str; 7] = [
    "id",
    "created_at",
    "event",
    "status",
    "attempts",
    "response_status",
    "error",
];

pub async fn run(
    api: &ApiClient,
    json: bool,
    command: WebhooksCommand,
) -> Result<ExitCode, CliError> {
    match command {
        WebhooksCommand::Add { url, events } => {
            let events = if events.is_empty() {
                EVENTS.iter().map(|e| (*e).to_owned()).collect()
            } else {
                events
            };
            let body = json!({"url": url, "events": events});
            let made = api.call(Method::POST, "/webhooks", Some(&body)).await?;
            if json {
                println!("{made}");
            } else {
                println!("{}", webhook_table(std::slice::from_ref(&made["webhook"])));
                println!("secret (shown only now): {}", output::cell(&made["secret"]));
            }
        }
        WebhooksCommand::List => {
            let list = api.call(Method::GET, "/webhooks", None).await?;
            print_list(json, &list, "webhooks", webhook_table);
        }
        WebhooksCommand::Remove { webhook_id } => {
            let path = format!("/webhooks/{webhook_id}");
            api.call(Method::DELETE, &path, None).await?;
            done(json, &format!("removed {webhook_id}"));
        }
        WebhooksCommand::Deliveries { webhook_id, limit } => {
            let path = format!("/webhooks/{webhook_id}/deliveries?limit={limit}");
            let log = api.call(Method::GET, &path, None).await?;
            print_list(json, &log, "deliveries", delivery_table);
        }
        WebhooksCommand::Redeliver {
            webhook_id,
            delivery_id,
        } => {
            let path = format!("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver");
            api.call(Method::POST, &path, None).await?;
            done(json, &format!("{delivery_id} is sent again"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(json: bool, answer: &Value, field: &str, table: fn(&[Value]) -> String) {
    if json {
        println!("{answer}");
    } else {
        let items = answer[field].as_array().map_or(&[][..], Vec::as_slice);
        println!("{}", table(items));
    }
}

fn webhook_table(hooks: &[Value]) -> String {
    output::table(
        &["ID", "URL", "EVENTS", "CREATED"],
        &output::rows(hooks, &WEBHOOK_FIELDS),
    )
}

fn delivery_table(deliveries: &[Value]) -> String {
    let header = [
        "ID", "MADE", "EVENT", "STATUS", "ATTEMPTS", "ANSWER", "ERROR",
    ];
    output::table(&header, &output::rows(deliveries, &DELIVERY_FIELDS))
}
