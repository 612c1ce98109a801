//! Transactional handlers (PostgreSQL): the handler's writes and its row's done mark commit
//! in one transaction.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use deadpool_postgres::Object;
use futures_util::FutureExt as _;

use crate::backend::{Backend, timed};
use crate::postgres::Postgres;
use crate::row::Event;
use crate::worker::{BoxFuture, Outcome, Run, panic_text};

/// The open transaction a [transactional handler](crate::Worker::start_transactional) writes
/// in. The worker commits it, with the row's done mark, when the handler returns `Ok`.
pub struct Transaction {
    client: Arc<Object>,
}

impl Transaction {
    /// The connection, inside the transaction (`BEGIN` was sent): run the handler's
    /// statements on it. Do not `COMMIT` or `ROLLBACK` on it; the worker does.
    #[must_use]
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

pub(crate) struct Transactional<H>(pub(crate) Arc<H>);

impl<H, Fut, E> Run for Transactional<H>
where
    H: Fn(Event, Transaction) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    fn run(&self, backend: Backend, event: Event, token: String) -> BoxFuture<Outcome> {
        let handler = Arc::clone(&self.0);
        Box::pin(async move {
            let Some(db) = backend.postgres() else {
                return Outcome::Failed(String::from(
                    "transactional handlers need the PostgreSQL backend",
                ));
            };
            let client = match begin(db).await {
                Ok(client) => Arc::new(client),
                Err(error) => {
                    return Outcome::Failed(format!("cannot begin a transaction: {error}"));
                }
            };
            let (id, transaction) = (
                event.id,
                Transaction {
                    client: Arc::clone(&client),
                },
            );
            let handled = AssertUnwindSafe(async move { handler(event, transaction).await })
                .catch_unwind()
                .await;
            let failure = match handled {
                Ok(Ok(())) => match commit(&client, id, &token).await {
                    Ok(outcome) => return outcome,
                    Err(error) => format!("cannot commit the handler's transaction: {error}"),
                },
                Ok(Err(error)) => error.to_string(),
                Err(panic) => panic_text(&*panic),
            };
            rollback(client).await;
            Outcome::Failed(failure)
        })
    }
}

async fn begin(db: &Postgres) -> Result<Object, crate::InboxError> {
    let client = db.client().await?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(crate::InboxError::backend)?;
    Ok(client)
}

/// The done mark, then `COMMIT`; a lost lease rolls the handler's writes back.
async fn commit(client: &Arc<Object>, id: i64, token: &str) -> Result<Outcome, crate::InboxError> {
    if Postgres::done_on(client, id, token).await? {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(crate::InboxError::backend)?;
        Ok(Outcome::Done(true))
    } else {
        rollback(Arc::clone(client)).await;
        Ok(Outcome::Done(false))
    }
}

/// Rolls back; a connection that cannot is closed rather than returned to the pool mid-
/// transaction.
async fn rollback(client: Arc<Object>) {
    let rolled_back = timed(crate::store::DEFAULT_STORE_TIMEOUT, async {
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(crate::InboxError::backend)
    })
    .await;
    if rolled_back.is_err()
        && let Ok(object) = Arc::try_unwrap(client)
    {
        drop(Object::take(object));
    }
}
