//! Forked logs in the store: two signed entries of one author and log that
//! cannot both be in it are detected on every ingest path, kept as a proof,
//! and freeze the log (nothing at or above the fork accepted or served).

use hoffnung_core::{DocumentViewId, EncodedEntry, ForkKind, ForkProof, KeyPair, SchemaId};
use hoffnung_store::test_utils::{field_definition_branch as branch, Signed};
use hoffnung_store::{
    backend_tests, EntryFilter, ErrorCode, ForkedAuthors, IngestError, NextArgsError, Store,
    StoreConfig, SystemSchemas,
};

fn codes(results: &[Result<hoffnung_store::Ingested, IngestError>]) -> Vec<&'static str> {
    results
        .iter()
        .map(|r| match r {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        })
        .collect()
}

fn entry(item: &Signed) -> EncodedEntry {
    EncodedEntry::decode(&item.0).unwrap()
}

async fn exported(store: &Store) -> Vec<(u64, u64)> {
    store
        .entries_after(0, 1000, &EntryFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| (e.log_id, e.seq_num))
        .collect()
}

/// The forked documents' logs, and where each is frozen from.
async fn forked_logs(store: &Store) -> Vec<(u64, Option<u64>)> {
    let mut logs: Vec<_> = store
        .forked_documents()
        .await
        .unwrap()
        .iter()
        .map(|d| (d.log_id, d.frozen_from))
        .collect();
    logs.sort_unstable();
    logs
}

backend_tests! {
    two_entries_at_one_position_fork_the_log(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let one = branch(&key, 0, 4, "one");
        let two = branch(&key, 0, 6, "two");
        let results = store.ingest_bulk(&one, &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["ok"; 5]);
        let document = results[0].as_ref().unwrap().document_id;

        // The other branch, as a peer or an import brings it: seq 1 is the
        // same entry, seq 2 is the fork, everything after it is frozen.
        let results = store.ingest_bulk(&two, &SystemSchemas).await.unwrap();
        assert_eq!(
            codes(&results),
            ["DUPLICATE_ENTRY", "LOG_FORKED", "LOG_FORKED", "LOG_FORKED", "LOG_FORKED", "LOG_FORKED", "LOG_FORKED"]
        );
        assert!(!ErrorCode::LogForked.blames_the_sender());
        let forks = store.forks().await.unwrap();
        assert_eq!(forks.len(), 1);
        let proof = &forks[0].proof;
        assert_eq!(proof.kind(), ForkKind::SamePosition);
        assert_eq!((proof.public_key(), proof.log_id(), proof.frozen_from()), (key.public_key(), 0, 2));
        // The proof is the two entries at seq 2, and stands on its own.
        let mut pair = [entry(&one[1]).hash(), entry(&two[1]).hash()];
        pair.sort_by_key(|h| *h.as_bytes());
        assert_eq!([proof.a().hash(), proof.b().hash()], pair);
        assert_eq!(&ForkProof::new(proof.a().as_bytes(), proof.b().as_bytes()).unwrap(), proof);

        // Nothing at or above seq 2 is served: not to peers, not in exports.
        let heights = store.log_heights(&[SchemaId::SCHEMA_FIELD_DEFINITION_V1], &SystemSchemas).await.unwrap();
        assert_eq!(heights, vec![(*key.public_key().as_bytes(), 0, 1)]);
        assert_eq!(exported(&store).await, [(0, 1)]);
        let logs = store.entries_of_logs(&[(*key.public_key().as_bytes(), 0, 0)]).await.unwrap();
        assert_eq!(logs.len(), 1);
        // Nor is the author told how to go on in it.
        let view = DocumentViewId::from_operation(entry(&one[4]).hash());
        let refused = store.next_args(&key.public_key(), Some(&view)).await.unwrap_err();
        assert!(matches!(refused, NextArgsError::LogForked { log_id: 0 }), "{refused}");
        assert_eq!(refused.code(), ErrorCode::LogForked);
        assert_eq!(store.frozen_from(&key.public_key(), 0).await.unwrap(), Some(2));
        let forked = store.forked_documents().await.unwrap();
        assert_eq!(forked.len(), 1);
        assert_eq!(forked[0].document_id, document);

        // The author's other logs are not affected.
        let other = branch(&key, 1, 1, "other");
        assert_eq!(codes(&store.ingest_bulk(&other, &SystemSchemas).await.unwrap()), ["ok", "ok"]);

        // It lasts: after a restart the log is still frozen, a new entry
        // is refused on the publish path too, and the proof is the same.
        store.close().await;
        drop(store);
        let store = db.store().await;
        assert_eq!(store.forks().await.unwrap()[0].proof, forks[0].proof);
        let e = store.ingest(&two[6].0, &two[6].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::LogForked, "{e}");
        // An entry of the frozen part it holds is one it has, not a fault.
        let e = store.ingest(&one[3].0, &one[3].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::DuplicateEntry, "{e}");
        store.close().await;
    }

    a_store_that_blocks_forked_authors_takes_and_serves_nothing_of_theirs(db) {
        let block = StoreConfig { forked_authors: ForkedAuthors::Block, ..StoreConfig::default() };
        let store = db.store_with(block.clone()).await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let other_author = KeyPair::from_private_key(&[8; 32]);
        let one = branch(&key, 0, 2, "one");
        let two = branch(&key, 0, 2, "two");
        let second_log = branch(&key, 1, 3, "second");
        let theirs = branch(&other_author, 0, 1, "theirs");
        store.ingest_bulk(&one, &SystemSchemas).await.unwrap();
        store.ingest_bulk(&second_log[..2], &SystemSchemas).await.unwrap();
        store.ingest_bulk(&theirs, &SystemSchemas).await.unwrap();
        let schemas = [SchemaId::SCHEMA_FIELD_DEFINITION_V1];
        let heights = store.log_heights(&schemas, &SystemSchemas).await.unwrap();
        assert_eq!(heights.len(), 3);

        // Log 0 forks: from now on nothing of this author counts, in any log.
        let results = store.ingest_bulk(&two, &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["DUPLICATE_ENTRY", "LOG_FORKED", "LOG_FORKED"]);
        let results = store.ingest_bulk(&second_log[2..], &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["AUTHOR_FORKED", "AUTHOR_FORKED"]);
        assert!(!ErrorCode::AuthorForked.blames_the_sender());
        let e = store.ingest(&second_log[2].0, &second_log[2].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::AuthorForked, "{e}");
        assert!(matches!(e, IngestError::AuthorForked(k) if k == key.public_key()), "{e}");
        // A new log is refused too, and the author is told so.
        let fresh = branch(&key, 2, 0, "fresh");
        assert_eq!(codes(&store.ingest_bulk(&fresh, &SystemSchemas).await.unwrap()), ["AUTHOR_FORKED"]);
        let refused = store.next_args(&key.public_key(), None).await.unwrap_err();
        assert!(matches!(refused, NextArgsError::AuthorForked), "{refused}");
        assert_eq!(refused.code(), ErrorCode::AuthorForked);
        assert!(store.author_blocked(&key.public_key()).await.unwrap());

        // Nothing of the author is served: not to peers, not in exports.
        let heights = store.log_heights(&schemas, &SystemSchemas).await.unwrap();
        assert_eq!(heights, vec![(*other_author.public_key().as_bytes(), 0, 2)]);
        let all = store.entries_after(0, 1000, &EntryFilter::default()).await.unwrap();
        assert!(all.iter().all(|e| e.public_key == *other_author.public_key().as_bytes()));
        assert_eq!(all.len(), 2);
        let logs = store.entries_of_logs(&[(*key.public_key().as_bytes(), 1, 0)]).await.unwrap();
        assert!(logs.is_empty());
        assert_eq!(store.count_entries(&EntryFilter::default()).await.unwrap(), 2);
        // Every document of the author is to be reduced again, from nothing.
        assert_eq!(forked_logs(&store).await, [(0, Some(1)), (1, Some(1))]);
        // The other author goes on.
        assert!(!store.author_blocked(&other_author.public_key()).await.unwrap());
        store.next_args(&other_author.public_key(), None).await.unwrap();

        // The policy is the store's, chosen at connect: freezing again,
        // only log 0 from its fork on is held back.
        store.close().await;
        drop(store);
        let store = db.store().await;
        assert!(!store.author_blocked(&key.public_key()).await.unwrap());
        // (Still listed: their documents are to be reduced again.)
        assert_eq!(forked_logs(&store).await, [(0, Some(2)), (1, None)]);
        let mut heights = store.log_heights(&schemas, &SystemSchemas).await.unwrap();
        heights.sort_unstable();
        let mut want = vec![
            (*key.public_key().as_bytes(), 0, 1),
            (*key.public_key().as_bytes(), 1, 2),
            (*other_author.public_key().as_bytes(), 0, 2),
        ];
        want.sort_unstable();
        assert_eq!(heights, want);
        store.ingest(&second_log[2].0, &second_log[2].1, &SystemSchemas).await.unwrap();
        store.close().await;
        drop(store);
        let store = db.store_with(block).await;
        assert!(store.author_blocked(&key.public_key()).await.unwrap());
        store.close().await;
    }

    a_link_to_another_entry_forks_the_log(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let one = branch(&key, 0, 2, "one");
        let two = branch(&key, 0, 3, "two");
        store.ingest_bulk(&one, &SystemSchemas).await.unwrap();
        // Seq 4 of the other branch follows seq 3, which is not ours.
        let results = store.ingest_bulk(&two[3..], &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["LOG_FORKED"]);
        let proof = store.forks().await.unwrap().remove(0).proof;
        assert_eq!(proof.kind(), ForkKind::Backlink);
        assert_eq!(proof.frozen_from(), 3);
        assert_eq!(exported(&store).await, [(0, 1), (0, 2)]);
        // A proof of a lower fork arrives: the log is frozen from there.
        let lower = ForkProof::new(&one[1].0, &two[1].0).unwrap();
        store.record_forks(vec![lower.clone()]).await.unwrap();
        let forks = store.forks().await.unwrap();
        assert_eq!(forks.len(), 1);
        assert_eq!(forks[0].proof, lower);
        assert_eq!(exported(&store).await, [(0, 1)]);
        // A higher one changes nothing.
        let higher = ForkProof::new(&one[2].0, &two[3].0).unwrap();
        store.record_forks(vec![higher]).await.unwrap();
        assert_eq!(store.forks().await.unwrap()[0].proof, lower);
        store.close().await;
    }

    a_lost_race_on_publish_is_no_fork(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let one = branch(&key, 0, 1, "one");
        let two = branch(&key, 0, 2, "two");
        store.ingest_bulk(&one, &SystemSchemas).await.unwrap();
        // Two publishes signed on one `nextArgs` answer: the second loses
        // the race, is refused, and nothing is stored or frozen.
        let e = store.ingest(&two[1].0, &two[1].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::SeqNumTaken, "{e}");
        assert!(store.forks().await.unwrap().is_empty());
        assert_eq!(exported(&store).await, [(0, 1), (0, 2)]);
        // A publish that follows another seq 2: the author's client holds
        // another branch. The answer is upstream's; the proof is kept.
        let e = store.ingest(&two[2].0, &two[2].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::LogIntegrity, "{e}");
        let forks = store.forks().await.unwrap();
        assert_eq!(forks.len(), 1);
        assert_eq!((forks[0].proof.kind(), forks[0].proof.frozen_from()), (ForkKind::Backlink, 2));
        assert_eq!(exported(&store).await, [(0, 1)]);
        // From now on the log takes nothing, on either path.
        let results = store.ingest_bulk(&two[1..2], &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["LOG_FORKED"]);
        let e = store.ingest(&two[1].0, &two[1].1, &SystemSchemas).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::LogForked, "{e}");
        store.close().await;
    }

    proofs_of_logs_not_held_are_not_kept(db) {
        let store = db.store().await;
        let key = KeyPair::from_private_key(&[9; 32]);
        let one = branch(&key, 0, 1, "one");
        let two = branch(&key, 0, 1, "two");
        let proof = ForkProof::new(&one[1].0, &two[1].0).unwrap();
        store.record_forks(vec![proof.clone()]).await.unwrap();
        assert!(store.forks().await.unwrap().is_empty());
        // Once the log is here, the same proof is kept.
        store.ingest_bulk(&one[..1], &SystemSchemas).await.unwrap();
        store.record_forks(vec![proof]).await.unwrap();
        assert_eq!(store.forks().await.unwrap().len(), 1);
        // Seq 2 of either branch is refused now, seq 1 was below the fork.
        let results = store.ingest_bulk(&one[1..], &SystemSchemas).await.unwrap();
        assert_eq!(codes(&results), ["LOG_FORKED"]);
        store.close().await;
    }
}
