//! Field definitions and their builders.

use serde_json::{Map, Value};

/// What a parent's deletion does to rows that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The delete fails with a foreign key violation while references exist.
    Restrict,
    /// Referencing rows are deleted with the parent.
    Cascade,
    /// The reference is set to null.
    SetNull,
}

/// A field's type. Arrays, sets and maps carry the definition of their elements.
#[derive(Debug, Clone)]
pub enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Array(Box<Field>),
    /// An array whose elements must be distinct.
    Set(Box<Field>),
    Map(Box<Field>, Box<Field>),
    Record(Vec<Field>),
    Foreign {
        reference: &'static str,
        on_delete: OnDelete,
    },
    /// A JSON value whose shape another component validates (plugin configs before their schema is known).
    Json,
}

/// A value-level rule, checked after the type.
#[derive(Debug, Clone)]
pub enum Check {
    Between(i64, i64),
    OneOf(&'static [&'static str]),
    OneOfInt(&'static [i64]),
    LenMin(usize),
    LenMax(usize),
    Uuid,
    /// A rule with its own message, e.g. a typedef such as `host` or `path`.
    Custom(fn(&Value) -> Result<(), String>),
    /// A record-level rule (Kong's `entity_checks` inside a record), run once the record's own fields are
    /// valid; what it reports nests under the record (`config: {"@entity": [...]}`).
    Record(fn(&Map<String, Value>, &mut crate::FieldErrors)),
}

/// A rule across fields of one entity.
#[derive(Clone)]
pub enum EntityCheck {
    /// Field names may be dotted paths into records (`config.allow`), as in Kong's plugin schemas.
    AtLeastOneOf(&'static [&'static str]),
    /// Exactly one of the fields is non-empty (Kong's `only_one_of`).
    OnlyOneOf(&'static [&'static str]),
    MutuallyExclusive(&'static [&'static str]),
    MutuallyRequired(&'static [&'static str]),
    /// A rule with its own logic; it reports its errors on fields or `@entity`.
    Custom(fn(&Map<String, Value>, &mut crate::FieldErrors)),
    /// Runs before field validation; when it reports errors they are returned alone (Kong's subschema
    /// selection: `{protocols = "unknown type: ftp"}`).
    Precheck(fn(&Map<String, Value>, &mut crate::FieldErrors)),
    /// Runs with field validation; the field errors it reports replace the fields' own (Kong's subschema
    /// field overrides such as routes' `no_sources`).
    FieldRules(fn(&Map<String, Value>, &mut crate::FieldErrors)),
}

impl std::fmt::Debug for EntityCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntityCheck::AtLeastOneOf(v) => write!(f, "AtLeastOneOf({v:?})"),
            EntityCheck::OnlyOneOf(v) => write!(f, "OnlyOneOf({v:?})"),
            EntityCheck::MutuallyExclusive(v) => write!(f, "MutuallyExclusive({v:?})"),
            EntityCheck::MutuallyRequired(v) => write!(f, "MutuallyRequired({v:?})"),
            EntityCheck::Custom(_) => write!(f, "Custom"),
            EntityCheck::Precheck(_) => write!(f, "Precheck"),
            EntityCheck::FieldRules(_) => write!(f, "FieldRules"),
        }
    }
}

/// One field of a schema.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub nullable: bool,
    pub default: Option<Value>,
    pub auto: bool,
    pub unique: bool,
    /// Never rendered in responses (secrets such as passwords are rendered hashed instead).
    pub checks: Vec<Check>,
    /// A short tag shown in `GET /schemas` (e.g. `uuid`, `timestamp`), for tooling that reads it.
    pub annotations: Vec<(&'static str, Value)>,
}

impl Field {
    pub fn new(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            required: false,
            nullable: true,
            default: None,
            auto: false,
            unique: false,
            checks: Vec::new(),
            annotations: Vec::new(),
        }
    }
    pub fn string(name: &'static str) -> Self {
        Self::new(name, Kind::String)
    }
    pub fn integer(name: &'static str) -> Self {
        Self::new(name, Kind::Integer)
    }
    pub fn number(name: &'static str) -> Self {
        Self::new(name, Kind::Number)
    }
    pub fn boolean(name: &'static str) -> Self {
        Self::new(name, Kind::Boolean)
    }
    pub fn array(name: &'static str, element: Field) -> Self {
        Self::new(name, Kind::Array(Box::new(element)))
    }
    pub fn set(name: &'static str, element: Field) -> Self {
        Self::new(name, Kind::Set(Box::new(element)))
    }
    pub fn map(name: &'static str, key: Field, value: Field) -> Self {
        Self::new(name, Kind::Map(Box::new(key), Box::new(value)))
    }
    pub fn record(name: &'static str, fields: Vec<Field>) -> Self {
        let mut f = Self::new(name, Kind::Record(fields));
        f.nullable = false;
        f
    }
    pub fn foreign(name: &'static str, reference: &'static str, on_delete: OnDelete) -> Self {
        Self::new(name, Kind::Foreign { reference, on_delete })
    }

    /// An element definition for arrays, sets and maps.
    pub fn element(kind: Kind) -> Self {
        Self::new("", kind)
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self.nullable = false;
        self
    }
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }
    pub fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }
    pub fn auto(mut self) -> Self {
        self.auto = true;
        self
    }
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }
    pub fn annotate(mut self, key: &'static str, value: Value) -> Self {
        self.annotations.push((key, value));
        self
    }

    /// The element definition of an array, set or map value.
    pub fn elements(&self) -> Option<&Field> {
        match &self.kind {
            Kind::Array(e) | Kind::Set(e) => Some(e),
            Kind::Map(_, v) => Some(v),
            _ => None,
        }
    }
}
