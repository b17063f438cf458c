//! Closed sets of names stored as `text` with a CHECK constraint (not as Postgres enums: later
//! migrations add values, and `ALTER TYPE … ADD VALUE` does not mix with transactional
//! migrations). One literal per variant names it everywhere: in SQL (`sqlx::Type`), in JSON
//! (serde), in `Display`/`FromStr`.

/// Declares such an enum: `text_enum! { /// docs  pub enum Name { /// docs  Variant = "name", … } }`.
/// The name is taken as a `tt`, not a `literal`: utoipa's derive does not see a `literal`
/// fragment in `#[serde(rename = …)]` and would document the variants' Rust names.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:tt,)+ }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                #[sqlx(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::text_enum::UnknownName {
                        what: stringify!($name),
                        name: other.to_owned(),
                    }),
                }
            }
        }
    };
}

pub(crate) use text_enum;

/// A name that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

/// For the tests of each such enum: every value's name parses back to it and is its JSON,
/// and the OpenAPI schema lists exactly those names.
#[cfg(test)]
pub(crate) fn assert_names_round_trip<T>(all: &[T])
where
    T: Copy
        + PartialEq
        + std::fmt::Debug
        + std::fmt::Display
        + std::str::FromStr
        + serde::Serialize
        + utoipa::PartialSchema,
{
    for &value in all {
        let name = value.to_string();
        assert_eq!(name.parse::<T>().ok(), Some(value), "{name}");
        assert_eq!(
            serde_json::to_value(value).ok(),
            Some(serde_json::json!(name))
        );
    }
    let names: Vec<String> = all.iter().map(ToString::to_string).collect();
    let schema = serde_json::to_value(T::schema()).expect("a schema serializes");
    assert_eq!(schema["enum"], serde_json::json!(names), "{schema}");
}
