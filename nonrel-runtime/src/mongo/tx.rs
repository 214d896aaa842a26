//! Session transactions on MongoDB: every operation of an attempt carries its session. A
//! write through a collection with counters adds its counters' changes to the same
//! transaction (see [`counted`]).

use super::session::{is_conflict, reply_conflict, tx_error, MongoSession};
use super::{convert, counted, driver, write, Mongo};
use crate::backend::capability::Transactions;
use crate::backend::{PutItem, Row, WriteMode};
use crate::error::{Error, ErrorKind, Result};
use crate::plan::Plan;
use crate::schema::key::{KeyValue, ObjectId};
use crate::schema::model::ModelDesc;
use mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;

/// How many times a commit whose outcome is unknown is sent again (commits are idempotent).
const COMMIT_RETRIES: u32 = 3;

impl Transactions for Mongo {
    type Session = MongoSession;

    async fn begin(&self) -> Result<MongoSession> {
        let mut session = self.client.start_session().await.map_err(|e| driver(e, "starting a session"))?;
        session.start_transaction().await.map_err(|e| driver(e, "starting a transaction"))?;
        Ok(MongoSession { session })
    }

    async fn tx_get(&self, s: &mut MongoSession, m: &'static ModelDesc, key: KeyValue) -> Result<Option<Vec<u8>>> {
        let filter = convert::document(vec![("_id".into(), convert::key_value(&key))])?;
        let found = self
            .raw_collection(m)
            .find_one(filter)
            .session(&mut s.session)
            .await
            .map_err(|e| tx_error(e, m, "reading a record"))?;
        found.map(|d| convert::without_id(d.as_bytes())).transpose()
    }

    async fn tx_put(
        &self,
        s: &mut MongoSession,
        m: &'static ModelDesc,
        item: PutItem,
        mode: WriteMode,
    ) -> Result<KeyValue> {
        let key = item.key.unwrap_or_else(|| KeyValue::ObjectId(ObjectId::new()));
        let items = vec![(key, item.doc)];
        if let Some(counters) = counted::counters_of(m) {
            counted::put_in(self, &mut s.session, m, &counters, &items, mode).await.map_err(Error::without_item)?;
            return Ok(items.into_iter().next().map(|(k, _)| k).expect("one item"));
        }
        let command = write::write_command(m, &items, mode)?;
        let reply = self
            .db
            .run_raw_command(command)
            .session(&mut s.session)
            .await
            .map_err(|e| tx_error(e, m, "writing a record"))?;
        if let Some(conflict) = reply_conflict(&reply, m) {
            return Err(conflict);
        }
        write::check_reply(&reply, m, &items, 0).map_err(Error::without_item)?;
        Ok(items.into_iter().next().map(|(k, _)| k).expect("one item"))
    }

    async fn tx_delete(&self, s: &mut MongoSession, m: &'static ModelDesc, keys: Vec<KeyValue>) -> Result<u64> {
        if let Some(counters) = counted::counters_of(m) {
            return counted::delete_in(self, &mut s.session, m, &counters, &keys).await;
        }
        let done = self
            .raw_collection(m)
            .delete_many(convert::keys_filter(&keys)?)
            .session(&mut s.session)
            .await
            .map_err(|e| tx_error(e, m, "deleting records"))?;
        Ok(done.deleted_count)
    }

    async fn tx_query(&self, s: &mut MongoSession, m: &'static ModelDesc, plan: Plan) -> Result<Vec<Row>> {
        let Some(options) = convert::find_options(&plan, false)? else { return Ok(Vec::new()) };
        let coll = self.raw_collection(m);
        let find = coll.find(convert::filter(&plan.filters)?).with_options(options);
        let mut cursor = find.session(&mut s.session).await.map_err(|e| tx_error(e, m, "running a query"))?;
        let mut rows = Vec::new();
        while cursor.advance(&mut s.session).await.map_err(|e| tx_error(e, m, "reading query results"))? {
            let raw = cursor.current().as_bytes();
            rows.push(convert::row(raw)?);
        }
        Ok(rows)
    }

    async fn commit(&self, mut s: MongoSession) -> Result<()> {
        let mut tries = 0;
        loop {
            match s.session.commit_transaction().await {
                Ok(()) => return Ok(()),
                Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && tries < COMMIT_RETRIES => tries += 1,
                Err(e) if is_conflict(&e) => {
                    let msg = "a concurrent transaction wrote the same records; the commit was refused";
                    return Err(Error::new(ErrorKind::Conflict, msg).with_source(e));
                }
                Err(e) => return Err(driver(e, "committing a transaction")),
            }
        }
    }

    async fn abort(&self, mut s: MongoSession) {
        // The server drops an unfinished transaction by itself; aborting only frees it sooner.
        let _ = s.session.abort_transaction().await;
    }
}
