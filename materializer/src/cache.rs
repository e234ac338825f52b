//! The worker's cache of current views, bounded by an estimate of the heap
//! bytes they hold rather than by their number: one view may hold a few
//! hundred bytes, another a 256 KB blob piece or a history of thousands of
//! operation ids.
//!
//! quick_cache's single-owner `unsync::Cache` (the worker is one task; no
//! locks, weights accounted exactly on every insert). The worker takes a
//! view out to advance it and puts it back, so a view's place in the cold
//! ring is the time it was last used: the cold ring drops the least
//! recently used first. A view evicted and wanted again soon after (the
//! cache remembers evicted keys) enters the hot ring, which is kept small
//! ([`HOT_SHARE`]).

use std::mem::size_of;

use hoffnung_core::{DocumentId, DocumentView, DocumentViewId, OperationId, OperationValue};
use hoffnung_core::{SchemaId, ViewField};
use quick_cache::unsync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

/// Share of the capacity for the hot ring. quick_cache's default (97 %)
/// fills the hot ring with the first views inserted and keeps them: new
/// documents then live in the remaining 3 % and are dropped before their
/// first update (a run of 100,000 creates followed by updates of the last
/// 24,000 hit no cached view at all). It also caps one view's weight.
const HOT_SHARE: f64 = 0.1;

/// What the allocator adds to each heap allocation (glibc: an 8-byte
/// header, sizes rounded up to 16).
const ALLOCATION: usize = 16;

/// Entries a node of std's B-tree holds at most.
const NODE_ENTRIES: usize = 11;

/// A leaf node of a view's field map: parent pointer and lengths, then
/// room for [`NODE_ENTRIES`] names and values, whether used or not.
const LEAF_NODE: usize = 16 + NODE_ENTRIES * (size_of::<String>() + size_of::<ViewField>());

/// An internal node: a leaf with 12 child pointers.
const INTERNAL_NODE: usize = LEAF_NODE + (NODE_ENTRIES + 1) * size_of::<usize>();

/// Bookkeeping of one cached entry beside its own bytes: the slot of
/// quick_cache's slab (key, pointer, weight, ring links; the slab grows by
/// doubling and keeps slots of evicted keys) and its hash table index.
const ENTRY: usize = 2 * size_of::<(DocumentId, Cached)>() + 16;

/// A cached view (boxed, so that the cache's slots stay small) and its
/// weight, computed once: the weigher is called at every eviction step.
struct Cached {
    bytes: u64,
    view: Box<DocumentView>,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<DocumentId, Cached> for ByBytes {
    fn weight(&self, _: &DocumentId, cached: &Cached) -> u64 {
        cached.bytes
    }
}

/// Current views by document, at most `max_bytes` of them by [`view_bytes`].
pub(crate) struct ViewCache {
    views: Cache<DocumentId, Cached, ByBytes>,
}

impl ViewCache {
    /// A cache of at most `max_bytes`; 0 caches nothing. A view heavier than
    /// a tenth of it is not cached.
    pub(crate) fn new(max_bytes: u64) -> Self {
        #[allow(clippy::expect_used)]
        let options = OptionsBuilder::new()
            // Sizes the record of evicted keys; a small view is ~1.9 KB.
            .estimated_items_capacity(usize::try_from(max_bytes / 2048).unwrap_or(usize::MAX))
            .weight_capacity(max_bytes)
            .hot_allocation(HOT_SHARE)
            .build()
            // invariant: both sizes are set just above, the only way to fail.
            .expect("cache options are complete");
        Self {
            views: Cache::with_options(
                options,
                ByBytes,
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            ),
        }
    }

    #[cfg(test)]
    fn contains(&self, document_id: &DocumentId) -> bool {
        self.views.contains_key(document_id)
    }

    /// Takes a document's view out, to advance it and [`put`](Self::put)
    /// it back.
    pub(crate) fn take(&mut self, document_id: &DocumentId) -> Option<DocumentView> {
        self.views.remove(document_id).map(|(_, c)| *c.view)
    }

    /// Keeps a document's view, evicting others until it fits.
    pub(crate) fn put(&mut self, document_id: DocumentId, view: DocumentView) {
        let bytes = view_bytes(&view);
        self.views.insert(
            document_id,
            Cached {
                bytes,
                view: Box::new(view),
            },
        );
    }

    pub(crate) fn clear(&mut self) {
        self.views.clear();
    }

    /// The weight of the views held.
    pub(crate) fn bytes(&self) -> u64 {
        self.views.weight()
    }

    pub(crate) fn len(&self) -> usize {
        self.views.len()
    }
}

/// An estimate of the memory a cached view takes: its entry in the cache
/// (the view inline, boxed) and every heap allocation it owns, each with
/// the allocator's overhead. Capacities, not lengths, where a value has one.
pub(crate) fn view_bytes(view: &DocumentView) -> u64 {
    let mut bytes = ENTRY + heap(size_of::<DocumentView>());
    if let SchemaId::Application(name, id) = &view.schema_id {
        bytes += heap(name.capacity()) + view_id_bytes(id);
    }
    bytes += view_id_bytes(&view.view_id);
    bytes += heap(view.sorted_operation_ids.capacity() * size_of::<OperationId>());
    if let Some(fields) = &view.fields {
        bytes += btree_bytes(fields.len());
        for (name, field) in fields {
            bytes += heap(name.capacity()) + value_bytes(&field.value);
        }
    }
    bytes as u64
}

/// A heap allocation of `size` bytes (none for 0: empty strings and vectors
/// do not allocate).
fn heap(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        size + ALLOCATION
    }
}

fn view_id_bytes(id: &DocumentViewId) -> usize {
    heap(std::mem::size_of_val(id.ids()))
}

fn value_bytes(value: &OperationValue) -> usize {
    match value {
        OperationValue::Bool(_)
        | OperationValue::Int(_)
        | OperationValue::Float(_)
        | OperationValue::Relation(_) => 0,
        OperationValue::Str(s) => heap(s.capacity()),
        OperationValue::Bytes(b) => heap(b.capacity()),
        OperationValue::RelationList(ids) => heap(ids.capacity() * size_of::<DocumentId>()),
        OperationValue::PinnedRelation(id) => view_id_bytes(id),
        OperationValue::PinnedRelationList(ids) => {
            heap(ids.capacity() * size_of::<DocumentViewId>())
                + ids.iter().map(view_id_bytes).sum::<usize>()
        }
    }
}

/// The nodes of a B-tree map of `len` fields: one leaf up to
/// [`NODE_ENTRIES`]; beyond, leaves hold 8 on average (a split leaves two
/// half-full nodes) and an internal node per 8 leaves.
fn btree_bytes(len: usize) -> usize {
    match len {
        0 => 0,
        1..=NODE_ENTRIES => heap(LEAF_NODE),
        n => {
            let leaves = n.div_ceil(8);
            leaves * heap(LEAF_NODE) + leaves.div_ceil(8) * heap(INTERNAL_NODE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoffnung_core::{Hash, KeyPair, PublicKey, ViewFields};

    fn id(n: u32) -> Hash {
        Hash::of(&n.to_be_bytes())
    }

    fn owner() -> PublicKey {
        static OWNER: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
        *OWNER.get_or_init(|| KeyPair::from_private_key(&[1; 32]).public_key())
    }

    /// A view like the load generator's: two short strings, one update.
    fn small_view(n: u32) -> DocumentView {
        let mut fields = ViewFields::new();
        for (name, value) in [("name", format!("renamed_{n}")), ("type", "str".into())] {
            fields.insert(
                name.into(),
                ViewField {
                    value: OperationValue::Str(value),
                    operation_id: id(n),
                },
            );
        }
        DocumentView {
            document_id: id(n),
            schema_id: SchemaId::SCHEMA_FIELD_DEFINITION_V1,
            owner: owner(),
            view_id: DocumentViewId::from_operation(id(n + 1)),
            is_deleted: false,
            is_edited: true,
            sorted_operation_ids: vec![id(n), id(n + 1)],
            fields: Some(fields),
        }
    }

    fn with_field(mut view: DocumentView, name: &str, value: OperationValue) -> DocumentView {
        if let Some(fields) = &mut view.fields {
            let operation_id = view.document_id;
            fields.insert(
                name.into(),
                ViewField {
                    value,
                    operation_id,
                },
            );
        }
        view
    }

    #[test]
    fn a_view_weighs_its_heap_bytes() {
        let small = view_bytes(&small_view(1));
        // Mostly the field map's node (11 slots, used or not) and the view.
        assert!((1_000..3_000).contains(&small), "small view: {small} bytes");

        // A blob piece: its bytes, one allocation, the name.
        let piece = vec![7u8; 256 * 1024];
        let big = view_bytes(&with_field(
            small_view(1),
            "data",
            OperationValue::Bytes(piece),
        ));
        assert_eq!(
            big - small,
            (256 * 1024 + ALLOCATION + 4 + ALLOCATION) as u64
        );

        // A relation list: 34 bytes an id.
        let list = OperationValue::RelationList((0..1_000).map(id).collect());
        let listed = view_bytes(&with_field(small_view(1), "list", list));
        assert_eq!(
            listed - small,
            (1_000 * 34 + ALLOCATION + 4 + ALLOCATION) as u64
        );

        // A long history: every operation id of the document.
        let mut long = small_view(1);
        long.sorted_operation_ids = (0..10_000).map(id).collect();
        let long = view_bytes(&long);
        assert_eq!(long - small, ((10_000 - 2) * 34) as u64);

        // An application schema id is the view's own copy.
        let mut app = small_view(1);
        app.schema_id = SchemaId::application("venue", DocumentViewId::from_operation(id(9)))
            .expect("valid name");
        assert_eq!(
            view_bytes(&app) - small,
            (5 + ALLOCATION + 34 + ALLOCATION) as u64
        );

        // Beyond one node the map's nodes grow with the fields.
        let mut wide = small_view(1);
        for i in 0..100 {
            wide = with_field(wide, &format!("f{i:03}"), OperationValue::Int(i));
        }
        let wide = view_bytes(&wide);
        assert!(wide - small > 100 * (4 + 24 + 72), "{wide} bytes");
        // A deleted view keeps no fields.
        let mut deleted = small_view(1);
        deleted.fields = None;
        assert!(view_bytes(&deleted) + heap(LEAF_NODE) as u64 <= small);
    }

    #[test]
    fn big_views_push_out_small_ones_and_the_weight_stays_bounded() {
        let max = 4 * 1024 * 1024;
        let mut cache = ViewCache::new(max);
        let small = view_bytes(&small_view(0));
        let n = 2_000;
        for i in 0..n {
            cache.put(id(i), small_view(i));
        }
        assert_eq!(cache.len(), n as usize, "2,000 small views fit");
        assert!(cache.bytes() <= max);

        // Ten views of a 256 KB blob piece: 2.5 MiB of the 4 (a view may
        // weigh up to a tenth of the cache).
        let piece = OperationValue::Bytes(vec![0; 256 * 1024]);
        for i in 0..10 {
            let view = with_field(small_view(10_000 + i), "data", piece.clone());
            cache.put(id(10_000 + i), view);
            assert!(cache.bytes() <= max, "{} > {max}", cache.bytes());
        }
        for i in 0..10 {
            assert!(cache.contains(&id(10_000 + i)), "big view {i} is cached");
        }
        let left = (0..n).filter(|i| cache.contains(&id(*i))).count() as u64;
        assert!(left < n as u64 / 2, "{left} small views left");
        // What is left of the small ones fills what the big ones leave.
        assert!(cache.bytes() >= max - 2 * 256 * 1024 - small);

        // The least recently used went first: what is left is the newest,
        // after the first views (the hot ring, a tenth, filled first).
        let kept: Vec<u32> = (0..n).filter(|i| cache.contains(&id(*i))).collect();
        let hot = kept.iter().zip(0..).take_while(|(k, i)| *k == i).count();
        assert!(
            hot as u64 * small <= max / 10,
            "{hot} views kept from the start"
        );
        let cold = &kept[hot..];
        assert_eq!(cold.last(), Some(&(n - 1)));
        assert!(
            cold.windows(2).all(|w| w[1] == w[0] + 1),
            "newest: {cold:?}"
        );
        // Taken out, a view is no longer counted.
        let before = cache.bytes();
        let view = cache.take(&id(n - 1)).expect("cached");
        assert_eq!(cache.bytes(), before - small);
        assert_eq!(view, small_view(n - 1));
        assert!(cache.take(&id(n - 1)).is_none());
    }

    #[test]
    fn a_view_heavier_than_a_tenth_of_the_cache_is_not_kept() {
        let mut cache = ViewCache::new(1024 * 1024);
        let piece = OperationValue::Bytes(vec![0; 256 * 1024]);
        cache.put(id(1), with_field(small_view(1), "data", piece));
        assert!(!cache.contains(&id(1)));
        assert_eq!(cache.bytes(), 0);
        let mut off = ViewCache::new(0);
        off.put(id(2), small_view(2));
        assert_eq!(off.len(), 0);
    }

    #[test]
    fn recently_created_documents_stay_for_their_updates() {
        // The load generator's run: 100,000 documents, then 24,000 created
        // and updated in turn, with a cache of 50,000 views' weight.
        let mut cache = ViewCache::new(50_000 * view_bytes(&small_view(0)));
        for i in 0..124_000 {
            cache.put(id(i), small_view(i));
        }
        let hits = (100_000..124_000)
            .filter(|i| {
                let hit = cache.take(&id(*i));
                cache.put(id(*i), small_view(*i));
                hit.is_some()
            })
            .count();
        assert_eq!(hits, 24_000);
    }
}
