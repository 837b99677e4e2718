// Every mistake of an attribute is reported in the same build, each at its token.
use oauth_runtime::requires_scope;

#[requires_scope(42, "photos read", One("albums:read"), route = "/photos")]
async fn handler() {}

fn main() {}
