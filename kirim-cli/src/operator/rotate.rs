//! `rotate SUB`: Kirim's five-step rotation as one guided, resumable command.
//!
//! 1. mint the new secret (`POST …/secrets` under an idempotency key kept in the state file,
//!    so a rerun gets the same secret back instead of minting another);
//! 2. print the receiver's `KIRIM_WEBHOOK_SECRETS` with both secrets, the new one first and
//!    labelled with its Kirim id, and wait for the deploy;
//! 3. confirm the new secret verifies deliveries: poll the receiver's
//!    `kirim_webhooks_verified_total{secret="<new id>"}` until it is above 0 (or the operator
//!    confirms with `--yes` or on the terminal);
//! 4. delete the old secret(s), asking first on a terminal;
//! 5. say what to remove from the receiver's configuration.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kirim_api::time::OffsetDateTime;
use kirim_api::{AddSecret, IdempotencyKey, IssuedSecret};
use reqwest::Url;
use serde_json::json;

use super::args::parse_duration;
use super::failure::Failure;
use super::metrics_probe::{VERIFIED_COUNTER, verified_count};
use super::rotation_state::{self, RotationState, Step};
use super::secret_file::write_secret;
use super::{CommandResult, Context, Outcome, prompt};

/// Kirim keeps an idempotency key 24 h; past 23 h a rerun no longer asks for the secret again.
const KEY_REPLAY_WINDOW_SECS: i64 = 23 * 3600;

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    /// The subscription id (wbs_…).
    subscription: String,
    /// Where the rotation's progress is kept (no secret in it).
    /// Defaults to ./kirim-rotate-SUBSCRIPTION.json (SUBSCRIPTION the subscription id).
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// The receiver's Prometheus metrics URL (http://host:port/metrics): the old secret is
    /// deleted only after its kirim_webhooks_verified_total counts the new secret.
    #[arg(long)]
    confirm_metrics: Option<Url>,
    /// How long to wait for the new secret to verify a delivery.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    confirm_timeout: Duration,
    /// How often to read the metrics.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Do not ask: without --confirm-metrics, this says you confirmed the new secret verifies
    /// deliveries yourself.
    #[arg(long)]
    yes: bool,
    /// Write the new secret to this file (mode 0600) instead of printing it.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// The receiver's current KIRIM_WEBHOOK_SECRETS, to print the exact new value. Never echoed
    /// by --help.
    #[arg(long, env = "KIRIM_WEBHOOK_SECRETS", hide_env_values = true)]
    current_secrets: Option<String>,
    /// Sent with step 1 as expires_in_hours.
    #[arg(long)]
    expires_in_hours: Option<u32>,
}

/// Step lines: stdout for people; stderr with --json, whose stdout is the one document.
struct Steps {
    json: bool,
    done: Vec<String>,
}

impl Steps {
    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    fn step(&mut self, name: &str, line: impl Into<String>) {
        self.done.push(name.to_owned());
        self.say(line);
    }
}

pub(crate) async fn run(args: RotateArgs, context: &Context) -> CommandResult {
    let state_path = args
        .state_file
        .clone()
        .unwrap_or_else(|| rotation_state::default_path(&args.subscription));
    let mut steps = Steps {
        json: context.json,
        done: Vec::new(),
    };
    let result = rotate(&args, context, &state_path, &mut steps).await;
    let progress = json!({ "subscription_id": args.subscription, "state_file": state_path, "steps_done": steps.done });
    match result {
        Ok(mut document) => {
            document["steps_done"] = json!(steps.done);
            Ok(Outcome::new(String::new(), document))
        }
        Err(failure) => {
            if state_path.exists() {
                steps.say(format!(
                    "the rotation is not finished: run the same command again to continue (state in {})",
                    state_path.display()
                ));
            }
            Err((failure, Some(progress)))
        }
    }
}

async fn rotate(
    args: &RotateArgs,
    context: &Context,
    state_path: &std::path::Path,
    steps: &mut Steps,
) -> Result<serde_json::Value, Failure> {
    let client = &context.client;
    let sub = args.subscription.as_str();
    let mut state = match rotation_state::load(state_path)? {
        Some(state) => {
            if state.subscription_id != sub {
                return Err(Failure::Local(format!(
                    "the state file {} is for {}, not {sub}: pass another --state-file",
                    state_path.display(),
                    state.subscription_id
                )));
            }
            steps.say(format!(
                "continuing the rotation of {sub} (state in {})",
                state_path.display()
            ));
            state
        }
        None => {
            let subscription = client.get_subscription(sub).await?;
            let state = RotationState {
                version: 1,
                subscription_id: sub.to_owned(),
                idempotency_key: IdempotencyKey::new_v4().as_str().to_owned(),
                expires_in_hours: args.expires_in_hours,
                started_unix: OffsetDateTime::now_utc().unix_timestamp(),
                step: Step::Minting,
                old_secret_ids: subscription.secrets.iter().map(|s| s.id.clone()).collect(),
                new_secret_id: None,
                deleted: Vec::new(),
            };
            // Saved before step 1 is sent: an interruption during it reruns with the same key.
            rotation_state::save(state_path, &state)?;
            state
        }
    };

    // Step 1: mint, or get the same secret back under the same key.
    let age = OffsetDateTime::now_utc().unix_timestamp() - state.started_unix;
    let mut plaintext: Option<IssuedSecret> = None;
    if state.step == Step::Minting || age < KEY_REPLAY_WINDOW_SECS {
        let key = IdempotencyKey::new(state.idempotency_key.clone())
            .map_err(|e| Failure::local("the state file's idempotency key", e))?;
        let mut request = AddSecret::new();
        if let Some(hours) = state.expires_in_hours {
            request = request.with_expires_in_hours(hours);
        }
        let new = client.add_secret_with_key(sub, &request, &key).await?;
        if let Some(known) = &state.new_secret_id
            && *known != new.id
        {
            return Err(Failure::Local(format!(
                "step 1 answered another secret ({}) than the one this rotation minted ({known}): \
                 delete {} with `secrets delete {sub} {}` and check the state file",
                new.id, new.id, new.id
            )));
        }
        if state.step == Step::Minting {
            state.new_secret_id = Some(new.id.clone());
            state.step = Step::Minted;
            rotation_state::save(state_path, &state)?;
            steps.step("mint", format!("step 1/5: minted secret {} for {sub}: Kirim now signs every delivery with it and the old one(s)", new.id));
        } else {
            steps.say(format!("step 1/5: already done: secret {}", new.id));
        }
        if let Some(path) = &args.secret_file {
            write_secret(path, new.secret.expose())?;
            steps.say(format!(
                "        the new secret is in {} (mode 0600)",
                path.display()
            ));
        }
        plaintext = Some(new.secret);
    } else {
        steps.say("step 1/5: already done, over 23 h ago: Kirim no longer returns the secret; use the value shown then");
    }
    let Some(new_id) = state.new_secret_id.clone() else {
        return Err(Failure::Local(
            "the state file has no new secret id".to_owned(),
        ));
    };

    // Step 2: the receiver's configuration.
    let new_entry = match (&args.secret_file, &plaintext) {
        (Some(path), _) => format!("{new_id}=$(cat {})", path.display()),
        (None, Some(secret)) => format!("{new_id}={}", secret.expose()),
        (None, None) => format!("{new_id}=<the new secret shown at step 1>"),
    };
    let old_entries = old_entries(args.current_secrets.as_deref(), &state, &new_id)?;
    let during = std::iter::once(new_entry.clone())
        .chain(old_entries)
        .collect::<Vec<_>>()
        .join(",");
    if state.step == Step::Minted {
        steps.say("step 2/5: deploy the receiver with both secrets, the new one first (a delivery is counted under the first secret that verifies it):");
        steps.say(format!("KIRIM_WEBHOOK_SECRETS={during}"));
        if args.confirm_metrics.is_none() && !args.yes && prompt::interactive() {
            prompt::wait_for_enter("press Enter once the receiver runs with it… ")?;
        }

        // Step 3: the new secret verifies deliveries.
        let confirmed_by = confirm(args, &new_id, steps).await?;
        state.step = Step::Confirmed;
        rotation_state::save(state_path, &state)?;
        steps.step("confirm", format!("step 3/5: confirmed: {confirmed_by}"));
    } else {
        steps.say("step 3/5: already confirmed");
    }

    // Step 4: delete the old secret(s), only while the new one is there.
    let subscription = client.get_subscription(sub).await?;
    if !subscription.secrets.iter().any(|s| s.id == new_id) {
        return Err(Failure::Local(format!(
            "the new secret {new_id} is no longer on {sub}: not deleting anything"
        )));
    }
    let to_delete: Vec<String> = state
        .old_secret_ids
        .iter()
        .filter(|id| **id != new_id && subscription.secrets.iter().any(|s| s.id == **id))
        .cloned()
        .collect();
    if !to_delete.is_empty() && !args.yes && prompt::interactive() {
        let question = format!("step 4/5: delete {} of {sub}?", to_delete.join(", "));
        if !prompt::confirm(&question)? {
            steps.say("not deleted: run the same command again to continue");
            return Ok(json!({
                "subscription_id": sub,
                "new_secret_id": new_id,
                "deleted": state.deleted,
                "finished": false,
            }));
        }
    }
    for id in &to_delete {
        client.delete_secret(sub, id).await?;
        state.deleted.push(id.clone());
        rotation_state::save(state_path, &state)?;
        steps.say(format!(
            "step 4/5: deleted secret {id}: Kirim stops signing with it on the next event"
        ));
    }
    steps.done.push("delete".to_owned());

    // Step 5.
    let kept = match (&args.secret_file, &plaintext) {
        (Some(path), _) => format!("{new_id}=$(cat {})", path.display()),
        (None, Some(secret)) => format!("{new_id}={}", secret.expose()),
        (None, None) => format!("{new_id}=<the new secret>"),
    };
    let removed: Vec<&String> = state
        .old_secret_ids
        .iter()
        .filter(|id| **id != new_id)
        .collect();
    steps.step(
        "finish",
        format!(
            "step 5/5: on the next deploy, remove {} from the receiver:",
            removed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    steps.say(format!("KIRIM_WEBHOOK_SECRETS={kept}"));
    rotation_state::remove(state_path)?;
    steps.say(format!(
        "rotation of {sub} finished; state file {} removed",
        state_path.display()
    ));
    Ok(json!({
        "subscription_id": sub,
        "new_secret_id": new_id,
        "old_secret_ids": state.old_secret_ids,
        "deleted": state.deleted,
        "finished": true,
    }))
}

/// The receiver's current entries, each labelled so its metric series is recognisable: an
/// unlabelled one gets the old secret's id when there is exactly one of each.
fn old_entries(
    current: Option<&str>,
    state: &RotationState,
    new_id: &str,
) -> Result<Vec<String>, Failure> {
    let old_ids: Vec<&String> = state
        .old_secret_ids
        .iter()
        .filter(|id| *id != new_id)
        .collect();
    let Some(current) = current.filter(|c| !c.trim().is_empty()) else {
        return Ok(old_ids
            .iter()
            .map(|id| format!("{id}=<its current whsec_ value>"))
            .collect());
    };
    // Checked as the receiver will read it; the error names the reason, never a value.
    kirim_verify::Secret::parse_list(current)
        .map_err(|e| Failure::local("--current-secrets (KIRIM_WEBHOOK_SECRETS)", e))?;
    let entries: Vec<&str> = current
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let unlabelled = entries.iter().filter(|e| e.starts_with("whsec_")).count();
    Ok(entries
        .iter()
        .filter(|entry| entry.split_once('=').map(|(label, _)| label.trim()) != Some(new_id))
        .map(|entry| {
            if entry.starts_with("whsec_") && unlabelled == 1 && old_ids.len() == 1 {
                format!("{}={entry}", old_ids[0])
            } else {
                (*entry).to_owned()
            }
        })
        .collect())
}

/// Step 3: the new secret verified a delivery, by the receiver's metrics or the operator.
async fn confirm(args: &RotateArgs, new_id: &str, steps: &mut Steps) -> Result<String, Failure> {
    if let Some(url) = &args.confirm_metrics {
        steps.say(format!(
            "step 3/5: waiting (up to {}) for {url} to count {VERIFIED_COUNTER}{{secret=\"{new_id}\"}} above 0…",
            humane(args.confirm_timeout)
        ));
        let started = Instant::now();
        let mut last_error: Option<String>;
        loop {
            match verified_count(url, new_id).await {
                Ok(count) if count > 0 => {
                    return Ok(format!(
                        "the receiver verified {count} delivery(ies) with {new_id}"
                    ));
                }
                Ok(_) => last_error = None,
                // The receiver may be restarting for the deploy: keep polling.
                Err(error) => last_error = Some(error),
            }
            if started.elapsed() + args.poll_interval > args.confirm_timeout {
                let why = last_error.map_or_else(
                    || format!("it still counts no delivery verified with {new_id}"),
                    |e| format!("the last read failed: {e}"),
                );
                return Err(Failure::Check(format!(
                    "the new secret was not seen verifying within {}: {why}; \
                     check the receiver runs with the new KIRIM_WEBHOOK_SECRETS, then rerun",
                    humane(args.confirm_timeout)
                )));
            }
            tokio::time::sleep(args.poll_interval).await;
        }
    }
    if args.yes {
        return Ok("by the operator (--yes)".to_owned());
    }
    if prompt::interactive() {
        if prompt::confirm(&format!(
            "have deliveries verified with {new_id} (its label in the receiver's logs)?"
        ))? {
            return Ok("by the operator".to_owned());
        }
        return Err(Failure::Check(format!(
            "not confirmed that {new_id} verifies deliveries: rerun when it does"
        )));
    }
    Err(Failure::Local(
        "cannot confirm the new secret verifies deliveries off a terminal: pass --confirm-metrics URL or --yes"
            .to_owned(),
    ))
}

fn humane(duration: Duration) -> String {
    let ms = duration.as_millis();
    if !ms.is_multiple_of(1000) || ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}
