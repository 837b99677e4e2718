//! Associated functions of an `impl` block, guarded through `#[scoped_handlers]` on the block,
//! route on axum like free functions; two blocks of one module may both have a `list`.
use axum::{Router, routing::get};
use oauth_runtime::{Claims, requires_scope, scoped_handlers};

struct Photos;
struct Albums<T>(T);

#[scoped_handlers]
impl Photos {
    /// Kept documentation.
    #[requires_scope("photos:read")]
    pub async fn list(claims: Claims) -> String {
        claims.subject().unwrap_or_default().to_owned()
    }

    #[requires_scope("photos:write")]
    #[requires_scope(any("photos:admin", "photos:owner"))]
    async fn delete() {}

    fn not_a_handler() -> u8 {
        7
    }
}

#[scoped_handlers]
impl<T> Albums<T> {
    #[requires_scope("albums:read")]
    async fn list() {}
}

fn main() {
    let _: Router = Router::new()
        .route("/photos", get(Photos::list).delete(Photos::delete))
        .route("/albums", get(Albums::<u8>::list));
    assert_eq!(Photos::not_a_handler(), 7);
}
