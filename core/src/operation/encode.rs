//! Canonical encoding of a typed [`Operation`].

use crate::cbor::Writer;
use crate::hash::Hash;
use crate::operation::action::{OperationAction, OPERATION_VERSION};
use crate::operation::typed::Operation;
use crate::value::{Fields, OperationValue};

impl Operation {
    /// Encodes canonically, byte for byte as p2panda-rs and p2panda-js do.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let len = match self.action {
            OperationAction::Create => 4,
            OperationAction::Update => 5,
            OperationAction::Delete => 4,
        };
        w.array(len);
        w.unsigned(OPERATION_VERSION);
        w.unsigned(self.action.as_u64());
        w.text(&self.schema_id.to_string());
        if self.action != OperationAction::Create {
            let ids = self.previous.as_ref().map(|p| p.ids()).unwrap_or_default();
            write_ids(&mut w, ids);
        }
        if self.action != OperationAction::Delete {
            let empty = Fields::new();
            let fields = self.fields.as_ref().unwrap_or(&empty);
            w.map(fields.len());
            for (name, value) in fields {
                w.text(name);
                write_value(&mut w, value);
            }
        }
        w.into_bytes()
    }
}

fn write_ids(w: &mut Writer, ids: &[Hash]) {
    w.array(ids.len());
    for id in ids {
        w.bytes(id.as_bytes());
    }
}

fn write_value(w: &mut Writer, value: &OperationValue) {
    match value {
        OperationValue::Bool(b) => w.bool(*b),
        OperationValue::Int(i) => w.int(*i),
        OperationValue::Float(f) => w.float(*f),
        OperationValue::Str(s) => w.text(s),
        OperationValue::Bytes(b) => w.bytes(b),
        OperationValue::Relation(id) => w.bytes(id.as_bytes()),
        OperationValue::RelationList(ids) => write_ids(w, ids),
        OperationValue::PinnedRelation(view) => write_ids(w, view.ids()),
        OperationValue::PinnedRelationList(views) => {
            w.array(views.len());
            for v in views {
                write_ids(w, v.ids());
            }
        }
    }
}
