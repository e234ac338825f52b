//! Bounds on one request that async-graphql's own limits leave open: its
//! complexity count skips `__typename` (200,000 aliased `__typename`s were
//! answered), and a parse error quotes the query back (a 1 MB query in, a
//! 1 MB error out). Runs as an extension, so it covers HTTP and WebSocket.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

use crate::error::ErrorCode;
use crate::MAX_COMPLEXITY;

/// Longest error message of a query that does not parse.
pub const MAX_PARSE_ERROR: usize = 256;

/// The extension: counts every selected field, aliases and `__typename`
/// included, and shortens parse errors.
pub(crate) struct RequestLimits;

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimitsExtension)
    }
}

struct RequestLimitsExtension;

#[async_trait::async_trait]
impl Extension for RequestLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await.map_err(shorten)?;
        let fields = count_fields(&document);
        if fields > MAX_COMPLEXITY {
            let mut e = ServerError::new(
                format!("Query is too complex: {fields} fields selected, at most {MAX_COMPLEXITY}"),
                None,
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::InvalidQuery.as_str());
            return Err(e);
        }
        Ok(document)
    }
}

/// A parse error's message cut to [`MAX_PARSE_ERROR`] bytes (at a char
/// boundary), so that the answer never grows with the query.
fn shorten(mut e: ServerError) -> ServerError {
    if e.message.len() > MAX_PARSE_ERROR {
        let mut end = MAX_PARSE_ERROR;
        while !e.message.is_char_boundary(end) {
            end -= 1;
        }
        e.message.truncate(end);
        e.message.push('…');
    }
    e
}

/// Every field the document selects, with fragment spreads expanded: what
/// the executor would resolve at most. Saturates rather than overflows; a
/// fragment that spreads itself counts as too many (validation would
/// refuse it anyway).
fn count_fields(document: &ExecutableDocument) -> usize {
    let mut counter = Counter {
        fragments: &document.fragments,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| counter.selections(&op.node.selection_set))
        .fold(0usize, usize::saturating_add)
}

struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// Fields of each fragment, counted once.
    done: HashMap<&'a str, usize>,
    visiting: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn selections(&mut self, set: &'a Positioned<SelectionSet>) -> usize {
        use async_graphql::parser::types::Selection;
        let mut total = 0usize;
        for selection in &set.node.items {
            let n = match &selection.node {
                Selection::Field(field) => {
                    1usize.saturating_add(self.selections(&field.node.selection_set))
                }
                Selection::InlineFragment(fragment) => {
                    self.selections(&fragment.node.selection_set)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            total = total.saturating_add(n);
        }
        total
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(n) = self.done.get(name) {
            return *n;
        }
        if self.visiting.contains(&name) {
            return usize::MAX;
        }
        let Some(definition) = self.fragments.get(name) else {
            return 0;
        };
        self.visiting.push(name);
        let n = self.selections(&definition.node.selection_set);
        self.visiting.pop();
        self.done.insert(name, n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        count_fields(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn every_selection_counts_once_per_use() {
        assert_eq!(count("{ a b: __typename c { d } }"), 4);
        assert_eq!(
            count("{ ...F ...F } fragment F on Query { x y: __typename }"),
            4
        );
        assert_eq!(
            count("{ ... on Query { a } ...G } fragment G on Query { ...F } fragment F on Query { b c }"),
            3
        );
        assert_eq!(count("{ ...F } fragment F on Query { ...F }"), usize::MAX);
    }

    #[test]
    fn nested_fragments_multiply() {
        // Ten levels of doubling: 2^10 leaves and the fields on the way.
        let mut q = String::from("{ ...F0 }");
        for i in 0..10 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ a: x {{ ...F{n} }} b: x {{ ...F{n} }} }}",
                n = i + 1
            ));
        }
        q.push_str(" fragment F10 on Query { __typename }");
        assert_eq!(
            count(&q),
            (1..=10).map(|l| 1usize << l).sum::<usize>() + 1024
        );
    }

    #[test]
    fn long_parse_errors_are_cut() {
        let e = shorten(ServerError::new("é".repeat(1000), None));
        assert!(e.message.len() <= MAX_PARSE_ERROR + '…'.len_utf8());
    }
}
