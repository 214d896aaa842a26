//! Transactions, pages and cascades on MongoDB, counted with the driver's command monitoring:
//! each costs the commands it needs and no more.

mod support;

use support::{monitored, take};

use nonrel_runtime::{Error, ErrorKind, Key, Model, Ref};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "tx_accounts")]
struct Account {
    #[field(key)]
    name: String,
    #[field(index)]
    balance: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(collection = "tx_entries")]
struct Entry {
    #[field(key)]
    id: Option<Key<Entry>>,
    #[field(index, on_delete = cascade)]
    account: Ref<Account>,
    amount: i64,
}

fn account(name: &str, balance: i64) -> Account {
    Account { name: name.into(), balance }
}

#[tokio::test]
async fn a_transaction_costs_its_operations_and_one_commit() {
    let (db, seen) = monitored("tx").await;
    db.save_many(&mut [account("ann", 100), account("bob", 0)]).await.unwrap();
    take(&seen);
    db.transaction(|tx| async move {
        let mut from = tx.get::<Account>("ann").await?.unwrap();
        let mut to = tx.get::<Account>("bob").await?.unwrap();
        from.balance -= 30;
        to.balance += 30;
        tx.save(&mut from).await?;
        tx.save(&mut to).await?;
        tx.insert(&mut Entry { id: None, account: Key::from("bob").into(), amount: 30 }).await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(take(&seen), ["find", "find", "update", "update", "insert", "commitTransaction"]);
    assert_eq!(db.get::<Account>("ann").await.unwrap().unwrap().balance, 70);
    assert_eq!(db.get::<Account>("bob").await.unwrap().unwrap().balance, 30);
    take(&seen);

    let err = db
        .transaction(|tx| async move {
            let mut a = tx.get::<Account>("ann").await?.unwrap();
            a.balance = 0;
            tx.save(&mut a).await?;
            Err::<(), _>(Error::new(ErrorKind::Unsupported, "insufficient funds"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.message(), "insufficient funds");
    assert_eq!(take(&seen), ["find", "update", "abortTransaction"]);
    assert_eq!(db.get::<Account>("ann").await.unwrap().unwrap().balance, 70, "the aborted write is gone");
}

#[tokio::test]
async fn a_page_is_one_find_first_or_from_a_cursor() {
    let (db, seen) = monitored("tx").await;
    let mut accounts: Vec<Account> = (0..30).map(|i| account(&format!("a{i:02}"), i % 4)).collect();
    db.save_many(&mut accounts).await.unwrap();
    take(&seen);
    let q = || db.query::<Account>().order_by(Account::balance().desc());
    let first = q().page(10).await.unwrap();
    assert_eq!(take(&seen), ["find"]);
    let second = q().page(10).after(first.next.unwrap()).await.unwrap();
    assert_eq!(take(&seen), ["find"]);
    let back = q().page(10).before(second.prev.unwrap()).await.unwrap();
    assert_eq!(take(&seen), ["find"]);
    assert_eq!(back.items, first.items);
}

#[tokio::test]
async fn a_cascade_finds_dependents_once_per_batch_and_deletes_them() {
    let (db, seen) = monitored("tx").await;
    db.save(&mut account("ann", 1)).await.unwrap();
    let mut entries: Vec<Entry> =
        (0..40).map(|i| Entry { id: None, account: Key::from("ann").into(), amount: i }).collect();
    db.save_many(&mut entries).await.unwrap();
    take(&seen);
    assert!(db.delete::<Account>("ann").await.unwrap());
    assert_eq!(take(&seen), ["find", "delete", "delete"], "find the entries, delete them, delete the account");
    assert_eq!(db.query::<Entry>().count().await.unwrap(), 0);
}
