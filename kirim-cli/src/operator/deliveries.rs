//! `deliveries list|replay|replay-dead`.

use std::fmt::Write as _;
use std::io::IsTerminal;

use clap::Subcommand;
use kirim_api::time::OffsetDateTime;
use kirim_api::{BulkReplay, Delivery, DeliveryQuery, DeliveryStatus};
use serde_json::json;

use super::args::{parse_time, rfc3339};
use super::failure::Failure;
use super::{CommandResult, Context, Outcome};

#[derive(Debug, Subcommand)]
pub(crate) enum DeliveriesCommand {
    /// List a subscription's deliveries, newest first: id, event, status, attempts, last
    /// response code.
    List {
        /// The subscription id (wbs_…).
        subscription: String,
        /// Only this status (pending, delivered, failed, dead).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Replay one delivery (a new delivery of the same event; the original stays).
    Replay {
        /// The delivery id (wbd_…).
        delivery: String,
    },
    /// Replay a subscription's dead (or failed) deliveries in bulk, paging through Kirim's
    /// 1 000-per-request cap.
    ReplayDead {
        /// The subscription id (wbs_…).
        subscription: String,
        /// Only deliveries created after this time (RFC 3339, or a duration ago: 48h).
        #[arg(long, value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only deliveries created before this time (RFC 3339, or a duration ago).
        #[arg(long, value_parser = parse_time)]
        until: Option<OffsetDateTime>,
        /// Only this event name.
        #[arg(long)]
        event_type: Option<String>,
        /// dead (the default) or failed.
        #[arg(long, default_value = "dead")]
        status: String,
    },
}

pub(crate) async fn run(command: DeliveriesCommand, context: &Context) -> CommandResult {
    let client = &context.client;
    match command {
        DeliveriesCommand::List {
            subscription,
            status,
            limit,
        } => {
            let mut query = DeliveryQuery::new(subscription.clone())
                .with_page_size(u32::try_from(limit.clamp(1, 100)).unwrap_or(100));
            if let Some(status) = &status {
                query = query.with_status(DeliveryStatus::parse(status));
            }
            let mut pages = client.list_deliveries(query);
            let mut deliveries: Vec<Delivery> = Vec::new();
            while deliveries.len() < limit {
                match pages.next_page().await.map_err(Failure::from)? {
                    Some(page) => deliveries.extend(page),
                    None => break,
                }
            }
            deliveries.truncate(limit);
            Ok(Outcome::new(
                table(&deliveries),
                json!({ "subscription_id": subscription, "deliveries": deliveries }),
            ))
        }
        DeliveriesCommand::Replay { delivery } => {
            let replay = client
                .replay_delivery(&delivery)
                .await
                .map_err(Failure::from)?;
            Ok(Outcome::new(
                format!(
                    "replaying {delivery}: new delivery {} ({})",
                    replay.id, replay.status
                ),
                json!({ "replayed_from": delivery, "delivery": replay }),
            ))
        }
        DeliveriesCommand::ReplayDead {
            subscription,
            since,
            until,
            event_type,
            status,
        } => {
            let status = match status.as_str() {
                "dead" => DeliveryStatus::Dead,
                "failed" => DeliveryStatus::Failed,
                other => {
                    return Err(Failure::Usage(format!(
                        "--status {other}: dead or failed expected"
                    ))
                    .into());
                }
            };
            let mut request = BulkReplay::new(subscription.clone()).with_status(status.clone());
            if let Some(since) = since {
                request = request.with_created_after(since);
            }
            if let Some(until) = until {
                request = request.with_created_before(until);
            }
            if let Some(event_type) = &event_type {
                request = request.with_event_type(event_type.clone());
            }
            // A spinner on a terminal only: nothing on pipes or with --json.
            let bar = (!context.json && std::io::stderr().is_terminal()).then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_message("replaying…");
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            });
            let result = client
                .bulk_replay_all(&request, |progress| {
                    if let Some(bar) = &bar {
                        bar.set_message(format!(
                            "{} queued ({} requests)",
                            progress.enqueued, progress.requests
                        ));
                    }
                })
                .await;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let report = result.map_err(Failure::from)?;
            let window = format!(
                "{} .. {}",
                since.map_or_else(|| "-".to_owned(), rfc3339),
                until.map_or_else(|| "-".to_owned(), rfc3339)
            );
            Ok(Outcome::new(
                format!(
                    "queued {} replays of {status} deliveries of {subscription} (window {window}{}) in {} requests",
                    report.enqueued,
                    event_type
                        .as_deref()
                        .map(|e| format!(", event {e}"))
                        .unwrap_or_default(),
                    report.requests
                ),
                json!({
                    "subscription_id": subscription,
                    "status": status.as_str(),
                    "event_type": event_type,
                    "created_after": since.map(rfc3339),
                    "created_before": until.map(rfc3339),
                    "enqueued": report.enqueued,
                    "requests": report.requests,
                }),
            ))
        }
    }
}

fn table(deliveries: &[Delivery]) -> String {
    let rows: Vec<[String; 5]> = deliveries
        .iter()
        .map(|d| {
            [
                d.id.clone(),
                d.event_type.clone().unwrap_or_else(|| "-".to_owned()),
                d.status.to_string(),
                d.attempts.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                d.response_status_code
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            ]
        })
        .collect();
    let header = ["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST CODE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    if rows.is_empty() {
        text.push_str("(no deliveries)\n");
    }
    text
}
