//! Just enough JSON-RPC to find the tools a request body calls.
//!
//! The gate and rmcp read the same bytes, and a request the two read differently would let a
//! call through under another tool's name: `{"params":{"name":"list_photos","name":"delete_photo"}}`
//! is `delete_photo` to a parser that keeps the last key and something else to one that keeps
//! the first. So this reader refuses what it could read in two ways (a repeated `method`,
//! `params` or `name`, a `params` of `tools/call` that is not an object, a batch inside a
//! batch); such a request is answered with a JSON-RPC parse error and never reaches rmcp.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why a body was refused.
#[derive(Debug)]
pub(crate) struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tool names of the `tools/call` requests in `body` (one message or a batch), in order.
pub(crate) fn called_tools(body: &[u8]) -> Result<Vec<String>, Refused> {
    let incoming: Incoming =
        serde_json::from_slice(body).map_err(|e| Refused(format!("not readable: {e}")))?;
    let messages = match incoming {
        Incoming::One(message) => vec![message],
        Incoming::Batch(messages) => messages,
    };
    messages
        .into_iter()
        .filter(|m| m.method.as_deref() == Some("tools/call"))
        .map(|m| {
            m.tool
                .ok_or_else(|| Refused("tools/call without params.name".into()))
        })
        .collect()
}

/// The answer to a refused body: HTTP 400 with a JSON-RPC parse error, as the streamable HTTP
/// transport answers a body it cannot read.
pub(crate) fn parse_error(error: &Refused) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": format!("parse error: {error}") },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

enum Incoming {
    One(Message),
    Batch(Vec<Message>),
}

/// One JSON-RPC message: its `method` when it is a string, and `params.name` for `tools/call`.
struct Message {
    method: Option<String>,
    tool: Option<String>,
}

impl<'de> serde::Deserialize<'de> for Incoming {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IncomingVisitor;
        impl<'de> Visitor<'de> for IncomingVisitor {
            type Value = Incoming;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message or a batch of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Incoming, A::Error> {
                MessageVisitor.visit_map(map).map(Incoming::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Incoming, A::Error> {
                let mut messages = Vec::new();
                while let Some(message) = seq.next_element::<Message>()? {
                    messages.push(message);
                }
                Ok(Incoming::Batch(messages))
            }
        }
        deserializer.deserialize_any(IncomingVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message (an object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let mut method: Option<serde_json::Value> = None;
        let mut params: Option<Params> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "method" => {
                    if method.is_some() {
                        return Err(de::Error::duplicate_field("method"));
                    }
                    method = Some(map.next_value()?);
                }
                "params" => {
                    if params.is_some() {
                        return Err(de::Error::duplicate_field("params"));
                    }
                    params = Some(map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let method = method.and_then(|m| m.as_str().map(str::to_owned));
        let tool = match (method.as_deref(), params) {
            (Some("tools/call"), Some(Params::Object { name })) => name,
            (Some("tools/call"), Some(Params::Other)) => {
                return Err(de::Error::custom("tools/call params must be an object"));
            }
            _ => None,
        };
        Ok(Message { method, tool })
    }
}

impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

/// `params`: an object (with its `name` when that is a string), or anything else.
enum Params {
    Object { name: Option<String> },
    Other,
}

impl<'de> serde::Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = Params;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON-RPC params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                let mut name: Option<serde_json::Value> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "name" {
                        if name.is_some() {
                            return Err(de::Error::duplicate_field("name"));
                        }
                        name = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Params::Object {
                    name: name.and_then(|n| n.as_str().map(str::to_owned)),
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Params, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Params::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Params, E> {
                Ok(Params::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Params, E> {
                Ok(Params::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Params, E> {
                Ok(Params::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Params, E> {
                Ok(Params::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Params, E> {
                Ok(Params::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Params, E> {
                Ok(Params::Other)
            }
        }
        deserializer.deserialize_any(ParamsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::called_tools;

    #[test]
    fn finds_the_called_tool_and_ignores_other_methods() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"x"},"name":"delete_photo"}}"#;
        assert_eq!(called_tools(call).expect("read"), ["delete_photo"]);
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
        assert!(called_tools(list).expect("read").is_empty());
        let batch =
            br#"[{"method":"ping"},{"method":"tools/call","params":{"name":"upload_photo"}}]"#;
        assert_eq!(called_tools(batch).expect("read"), ["upload_photo"]);
    }

    #[test]
    fn refuses_what_two_parsers_could_read_differently() {
        for body in [
            &br#"{"method":"tools/call","params":{"name":"list_photos","name":"delete_photo"}}"#[..],
            br#"{"method":"ping","method":"tools/call","params":{"name":"delete_photo"}}"#,
            br#"{"method":"tools/call","params":{"name":"list_photos"},"params":{"name":"delete_photo"}}"#,
            br#"{"method":"tools/call","params":["delete_photo"]}"#,
            br#"{"method":"tools/call","params":{}}"#,
            br#"[[{"method":"tools/call","params":{"name":"delete_photo"}}]]"#,
            b"not json",
        ] {
            assert!(
                called_tools(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
