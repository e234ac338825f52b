//! Document reduction: from the operation graph of a document to a view.
//!
//! The walk is upstream's deterministic stack walk (so ordinary documents
//! materialize exactly as on aquadoggo) with hoffnung's fixes: an operation
//! is applied only after all of its `previous`, each operation is applied
//! once, and a DELETE anywhere in the graph deletes the document.

use std::collections::{BTreeMap, HashMap};

use crate::ids::{DocumentId, DocumentViewId, OperationId, SchemaId};
use crate::keys::PublicKey;
use crate::operation::{Operation, OperationAction};
use crate::value::OperationValue;

/// A value in a view and the operation that last wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewField {
    pub value: OperationValue,
    pub operation_id: OperationId,
}

/// Field name → value of a view.
pub type ViewFields = BTreeMap<String, ViewField>;

/// An operation of a document, with what reduction needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentOperation {
    pub id: OperationId,
    pub public_key: PublicKey,
    pub operation: Operation,
}

/// The state of a document at a set of graph tips.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentView {
    pub document_id: DocumentId,
    pub schema_id: SchemaId,
    /// Author of the CREATE.
    pub owner: PublicKey,
    /// Sorted tips of the reduced graph.
    pub view_id: DocumentViewId,
    pub is_deleted: bool,
    /// A field was written by an operation other than the CREATE, or deleted.
    pub is_edited: bool,
    /// The operations in the order they were applied, each once.
    pub sorted_operation_ids: Vec<OperationId>,
    /// `None` when deleted.
    pub fields: Option<ViewFields>,
}

/// Why a set of operations does not reduce to a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReduceError {
    #[error("no operations given")]
    Empty,
    #[error("operation {0} was given twice")]
    DuplicateOperation(OperationId),
    #[error("multiple CREATE operations found when building operation graph")]
    MultipleCreates,
    #[error("no CREATE operation found when building operation graph")]
    MissingCreate,
    #[error("operation {0} cannot be connected to the document graph")]
    Disconnected(OperationId),
    #[error("operation {operation} has schema {found}, the document has schema {expected}")]
    SchemaMismatch {
        operation: OperationId,
        found: SchemaId,
        expected: SchemaId,
    },
    #[error("operation {0} of the requested view id is not part of the document")]
    UnknownViewOperation(OperationId),
}

struct Graph<'a> {
    /// Operations sorted by id; indices below refer to this order.
    ops: Vec<&'a DocumentOperation>,
    preds: Vec<Vec<usize>>,
    /// Successors, ascending by id.
    succs: Vec<Vec<usize>>,
    root: usize,
}

impl<'a> Graph<'a> {
    fn new(ops: impl IntoIterator<Item = &'a DocumentOperation>) -> Result<Self, ReduceError> {
        let mut ops: Vec<&DocumentOperation> = ops.into_iter().collect();
        if ops.is_empty() {
            return Err(ReduceError::Empty);
        }
        ops.sort_unstable_by_key(|o| o.id);
        if let Some(w) = ops.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(ReduceError::DuplicateOperation(w[0].id));
        }
        let index: HashMap<OperationId, usize> =
            ops.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        let mut preds = vec![Vec::new(); ops.len()];
        let mut succs = vec![Vec::new(); ops.len()];
        let mut root = None;
        for (i, op) in ops.iter().enumerate() {
            match (&op.operation.action, &op.operation.previous) {
                (OperationAction::Create, _) => {
                    if root.replace(i).is_some() {
                        return Err(ReduceError::MultipleCreates);
                    }
                }
                (_, Some(previous)) => {
                    for p in previous.ids() {
                        match index.get(p) {
                            Some(&j) if j != i => {
                                preds[i].push(j);
                                succs[j].push(i);
                            }
                            _ => return Err(ReduceError::Disconnected(op.id)),
                        }
                    }
                }
                (_, None) => return Err(ReduceError::Disconnected(op.id)),
            }
        }
        let root = root.ok_or(ReduceError::MissingCreate)?;
        for s in &mut succs {
            s.sort_unstable();
        }
        let expected = &ops[root].operation.schema_id;
        if let Some(bad) = ops.iter().find(|o| &o.operation.schema_id != expected) {
            return Err(ReduceError::SchemaMismatch {
                operation: bad.id,
                found: bad.operation.schema_id.clone(),
                expected: expected.clone(),
            });
        }
        Ok(Self {
            ops,
            preds,
            succs,
            root,
        })
    }

    /// The application order (section 8.2 of the spec with the fixes of 13.1).
    fn walk(&self) -> Result<Vec<usize>, ReduceError> {
        let n = self.ops.len();
        let mut applied = vec![false; n];
        let mut order = Vec::with_capacity(n);
        let ready = |applied: &[bool], i: usize| self.preds[i].iter().all(|p| applied[*p]);
        let mut stack = vec![self.root];
        while let Some(mut cur) = stack.pop() {
            // Fix: never twice, never before all predecessors.
            if applied[cur] || !ready(&applied, cur) {
                continue;
            }
            applied[cur] = true;
            order.push(cur);
            loop {
                let mut kids = self.succs[cur].iter().copied().filter(|k| !applied[*k]);
                let Some(next) = kids.next() else { break };
                stack.extend(kids);
                if self.preds[next].len() > 1 {
                    if ready(&applied, next) {
                        stack.push(next);
                    }
                    break;
                }
                applied[next] = true;
                order.push(next);
                cur = next;
            }
        }
        if let Some(i) = (0..n).find(|i| !applied[*i]) {
            return Err(ReduceError::Disconnected(self.ops[i].id));
        }
        Ok(order)
    }

    fn reduce(&self) -> Result<DocumentView, ReduceError> {
        let order = self.walk()?;
        let create = self.ops[self.root];
        let mut fields = ViewFields::new();
        let mut is_deleted = false;
        for &i in &order {
            let op = self.ops[i];
            apply(&mut fields, &mut is_deleted, op);
        }
        let tips: Vec<OperationId> = (0..self.ops.len())
            .filter(|i| self.succs[*i].is_empty())
            .map(|i| self.ops[i].id)
            .collect();
        // invariant: a non-empty graph has at least one tip; ids are unique and sorted.
        let view_id = DocumentViewId::from_canonical(tips).map_err(|_| ReduceError::Empty)?;
        Ok(finish(
            create,
            view_id,
            fields,
            is_deleted,
            order.iter().map(|i| self.ops[*i].id).collect(),
        ))
    }
}

fn apply(fields: &mut ViewFields, is_deleted: &mut bool, op: &DocumentOperation) {
    match op.operation.action {
        // Delete wins: whatever sorts after it, the document stays deleted.
        OperationAction::Delete => *is_deleted = true,
        OperationAction::Create | OperationAction::Update => {
            if let Some(f) = &op.operation.fields {
                for (name, value) in f {
                    fields.insert(
                        name.clone(),
                        ViewField {
                            value: value.clone(),
                            operation_id: op.id,
                        },
                    );
                }
            }
        }
    }
}

fn finish(
    create: &DocumentOperation,
    view_id: DocumentViewId,
    fields: ViewFields,
    is_deleted: bool,
    sorted_operation_ids: Vec<OperationId>,
) -> DocumentView {
    let is_edited = is_deleted || fields.values().any(|f| f.operation_id != create.id);
    DocumentView {
        document_id: create.id,
        schema_id: create.operation.schema_id.clone(),
        owner: create.public_key,
        view_id,
        is_deleted,
        is_edited,
        sorted_operation_ids,
        fields: if is_deleted { None } else { Some(fields) },
    }
}

/// Reduces all operations of a document to its current view.
pub fn reduce(operations: &[DocumentOperation]) -> Result<DocumentView, ReduceError> {
    Graph::new(operations)?.reduce()
}

/// Reduces a document to a historic view: only the operations of `view_id`
/// and their ancestors count.
pub fn reduce_to_view(
    operations: &[DocumentOperation],
    view_id: &DocumentViewId,
) -> Result<DocumentView, ReduceError> {
    let by_id: HashMap<OperationId, &DocumentOperation> =
        operations.iter().map(|o| (o.id, o)).collect();
    let mut keep: HashMap<OperationId, &DocumentOperation> = HashMap::new();
    let mut todo: Vec<OperationId> = view_id.ids().to_vec();
    for id in view_id.ids() {
        if !by_id.contains_key(id) {
            return Err(ReduceError::UnknownViewOperation(*id));
        }
    }
    while let Some(id) = todo.pop() {
        let Some(op) = by_id.get(&id) else {
            return Err(ReduceError::Disconnected(id));
        };
        if keep.insert(id, op).is_none() {
            if let Some(prev) = &op.operation.previous {
                todo.extend(prev.ids().iter().copied());
            }
        }
    }
    Graph::new(keep.into_values())?.reduce()
}

impl DocumentView {
    /// The view after `op`, if `op` builds exactly on this view (its
    /// `previous` equals this view id). Then the walk would apply it last, so
    /// applying it to this view gives what a full reduction gives, without
    /// re-reading the document. `None` if it does not extend this view.
    pub fn extend(&self, op: &DocumentOperation) -> Option<DocumentView> {
        let mut next = self.clone();
        next.advance(op).then_some(next)
    }

    /// [`DocumentView::extend`] in place: applies `op` and returns `true` if
    /// it builds exactly on this view; leaves the view as it is and returns
    /// `false` otherwise. Costs O(fields of `op`), whatever the document's
    /// length, which is what keeps long documents cheap to materialize.
    pub fn advance(&mut self, op: &DocumentOperation) -> bool {
        if op.operation.previous.as_ref() != Some(&self.view_id)
            || op.operation.schema_id != self.schema_id
        {
            return false;
        }
        let mut fields = self.fields.take().unwrap_or_default();
        apply(&mut fields, &mut self.is_deleted, op);
        self.sorted_operation_ids.push(op.id);
        self.view_id = DocumentViewId::from_operation(op.id);
        if self.is_deleted {
            self.is_edited = true;
        } else {
            self.is_edited =
                self.is_edited || op.operation.fields.as_ref().is_some_and(|f| !f.is_empty());
            self.fields = Some(fields);
        }
        true
    }
}
