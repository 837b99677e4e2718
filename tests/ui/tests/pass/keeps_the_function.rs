//! The rewrite keeps everything about the user's function: attributes, docs, visibility,
//! generics and `where` clauses, `async`, parameter patterns, return type, and extractor order
//! (a body-consuming extractor stays last).
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Json, Router, routing::{get, post}};
use oauth_runtime::{Claims, requires_scope};

#[derive(Clone, Default)]
struct AppState {
    name: String,
}

mod handlers {
    use super::*;

    /// Lists things.
    ///
    /// More docs.
    #[requires_scope("things:read")]
    #[allow(clippy::unused_async)]
    #[must_use = "a handler's future does nothing unless polled"]
    pub async fn list(
        State(AppState { name }): State<AppState>,
        claims: Claims,
        Query(mut params): Query<HashMap<String, String>>,
    ) -> Result<Json<Vec<String>>, StatusCode> {
        params.insert("owner".into(), claims.subject().unwrap_or_default().to_owned());
        Ok(Json(vec![name, params.len().to_string()]))
    }

    #[requires_scope("things:write")]
    pub(crate) async fn create(
        Path((kind, id)): Path<(String, u32)>,
        Json(body): Json<serde_json_value::Value>,
    ) -> (StatusCode, String) {
        (StatusCode::CREATED, format!("{kind}/{id}: {body:?}"))
    }

    mod serde_json_value {
        pub type Value = std::collections::BTreeMap<String, String>;
    }
}

#[requires_scope("generic:read")]
async fn generic<S>(State(state): State<S>) -> String
where
    S: Clone + Send + Sync + std::fmt::Debug + 'static,
{
    format!("{state:?}")
}

// Stacked attributes: both requirements must hold.
#[requires_scope("a")]
#[requires_scope("b")]
async fn stacked(claims: Option<Claims>) -> String {
    claims.and_then(|c| c.subject().map(str::to_owned)).unwrap_or_default()
}

fn main() {
    let _: Router = Router::new()
        .route("/things", get(handlers::list))
        .route("/things/{kind}/{id}", post(handlers::create))
        .route("/stacked", get(stacked))
        .with_state(AppState::default());
    let _: Router = Router::new().route("/generic", get(generic::<u8>)).with_state(7u8);
}
