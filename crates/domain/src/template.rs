//! Ticket titles and descriptions rendered from Identity Manager's Mustache/Handlebars
//! template files, with the variables and helpers its documentation names.
//!
//! The engine is the `handlebars` crate. Identity Manager's own additions are provided here:
//! the `ifCond` comparison helper, and `X.GetEnumerator` sections over a dictionary, which are
//! rewritten to `each` over `{Key, Value}` items before compiling.

use handlebars::{
    BlockContext, Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext,
    RenderErrorReason, Renderable, handlebars_helper, no_escape,
};
use serde_json::{Map, Value, json};

use crate::order::{ProvisioningOrder, get_ci, scalar_text};

/// A template's text and where it came from (used in error messages).
#[derive(Debug, Clone, Copy)]
pub struct TemplateSource<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Rendering choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Escape HTML in `{{value}}` as Mustache does. Off by default: tickets are plain text.
    pub html_escape: bool,
    /// The link `UsercubeProfileLink` renders to, with `{OwnerId}` and `{OwnerType}` replaced by
    /// the order's owner id and source entity type. Empty when unset.
    pub profile_link: Option<String>,
}

/// The compiled title and description templates of one resource-type mapping.
#[derive(Debug)]
pub struct TicketTemplates {
    registry: Handlebars<'static>,
    options: TemplateOptions,
}

/// A rendered title and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedTicket {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("{template}: template does not compile: {reason}")]
    Compile { template: String, reason: String },
    #[error("{template}: rendering failed for order {order}: {reason}")]
    Render { template: String, order: String, reason: String },
}

const TITLE: &str = "title";
const DESCRIPTION: &str = "description";

/// Used when a mapping names no title template.
pub const DEFAULT_TITLE: &str =
    "{{ProvisioningOrder.ChangeType}} {{ResourceType}} for {{Username}}";

/// Used when a mapping names no description template.
pub const DEFAULT_DESCRIPTION: &str = "\
{{ProvisioningOrder.ChangeType}} the resource \"{{ResourceType}}\" for {{Username}}.
{{#if UsercubeProfileLink}}Profile: {{UsercubeProfileLink}}
{{/if}}
The resource must have the following values:
{{#Entity.GetEnumerator}}
- {{Key}}: {{Value}}
{{/Entity.GetEnumerator}}
{{#DisplayAdd}}
Add the following links:
{{#AddedLinkedEntities}}
- {{Name}}: {{#Values.GetEnumerator}}{{Value}} {{/Values.GetEnumerator}}
{{/AddedLinkedEntities}}
{{/DisplayAdd}}
{{#DisplayRemove}}
Remove the following links:
{{#RemovedLinkedEntities}}
- {{Name}}: {{#Values.GetEnumerator}}{{Value}} {{/Values.GetEnumerator}}
{{/RemovedLinkedEntities}}
{{/DisplayRemove}}";

// === TicketTemplates ===

impl TicketTemplates {
    /// Compiles a mapping's templates; a missing one falls back to a built-in default.
    pub fn compile(
        title: Option<TemplateSource<'_>>,
        description: Option<TemplateSource<'_>>,
        options: TemplateOptions,
    ) -> Result<TicketTemplates, TemplateError> {
        let mut registry = Handlebars::new();
        if !options.html_escape {
            registry.register_escape_fn(no_escape);
        }
        registry.register_helper("ifCond", Box::new(IfCond));
        registry.register_helper("GetEnumerator", Box::new(enumerate_helper));
        registry.register_helper("section", Box::new(Section));

        let title = title
            .unwrap_or(TemplateSource { name: "built-in title template", text: DEFAULT_TITLE });
        let description = description.unwrap_or(TemplateSource {
            name: "built-in description template",
            text: DEFAULT_DESCRIPTION,
        });
        for (key, source) in [(TITLE, title), (DESCRIPTION, description)] {
            registry.register_template_string(key, rewrite_dialect(source.text)).map_err(|e| {
                // One line: the reason and where, without the source excerpt the engine adds.
                let at = e
                    .pos()
                    .map(|(line, column)| format!(" at line {line}, column {column}"))
                    .unwrap_or_default();
                TemplateError::Compile {
                    template: source.name.to_owned(),
                    reason: format!("{}{at}", e.reason()),
                }
            })?;
        }
        Ok(TicketTemplates { registry, options })
    }

    /// Renders the title (on one line) and the description of one order's ticket.
    pub fn render(&self, order: &ProvisioningOrder) -> Result<RenderedTicket, TemplateError> {
        // Built once for both templates: `render` would copy the whole context for each.
        let context = Context::from(template_context(order, &self.options));
        let render = |key: &str| {
            self.registry.render_with_context(key, &context).map_err(|e| TemplateError::Render {
                template: key.to_owned(),
                order: order.assigned_resource_type_id.clone(),
                reason: e.to_string(),
            })
        };
        let title = one_line(&render(TITLE)?);
        let mut description = render(DESCRIPTION)?;
        let end = description.trim_end().len();
        description.truncate(end);
        let start = description.len() - description.trim_start().len();
        description.drain(..start);
        Ok(RenderedTicket { title, description })
    }
}

/// The variables a template sees, as Identity Manager documents them.
pub fn template_context(order: &ProvisioningOrder, options: &TemplateOptions) -> Value {
    let (entity, added, removed) = split_changes(order);
    let profile_link = options
        .profile_link
        .as_deref()
        .map(|format| {
            let owner_type = order
                .resource_type
                .source_entity_type
                .as_ref()
                .and_then(|t| t.identifier.clone().or_else(|| t.id.clone()))
                .unwrap_or_default();
            format
                .replace("{OwnerId}", &order.owner_id().unwrap_or_default())
                .replace("{OwnerType}", &owner_type)
        })
        .unwrap_or_default();

    json!({
        "Username": order.owner_display_name(),
        "ResourceType": order.resource_type.identifier,
        "UsercubeProfileLink": profile_link,
        "Entity": entity,
        "DisplayAdd": !added.is_empty(),
        "DisplayRemove": !removed.is_empty(),
        "AddedLinkedEntities": added,
        "RemovedLinkedEntities": removed,
        "ProvisioningOrder": order,
    })
}

/// Splits an order's values into the scalar values the resource must have (`Entity`) and the
/// links to add and remove.
///
/// Identity Manager does not document how link changes are written in an order file. This
/// agent reads them from `AddedLinkedEntities`/`RemovedLinkedEntities` lists on the order
/// itself (items `{Name, Values}`), and from a property of `Changes` whose value is an object
/// holding `Added` and/or `Removed` lists.
fn split_changes(order: &ProvisioningOrder) -> (Map<String, Value>, Vec<Value>, Vec<Value>) {
    let mut entity = Map::new();
    let mut added = explicit_links(order, "AddedLinkedEntities");
    let mut removed = explicit_links(order, "RemovedLinkedEntities");

    let values = order.resource.iter().chain(order.changes.iter());
    for (name, value) in values {
        match value {
            Value::Object(inner)
                if get_ci(inner, "Added").is_some() || get_ci(inner, "Removed").is_some() =>
            {
                for (key, target) in [("Added", &mut added), ("Removed", &mut removed)] {
                    if let Some(Value::Array(items)) = get_ci(inner, key)
                        && !items.is_empty()
                    {
                        target.push(json!({ "Name": name, "Values": link_values(items) }));
                    }
                }
            }
            Value::Object(_) | Value::Array(_) => {}
            scalar => {
                entity.insert(name.clone(), scalar.clone());
            }
        }
    }
    (entity, added, removed)
}

fn explicit_links(order: &ProvisioningOrder, key: &str) -> Vec<Value> {
    match get_ci(&order.extra, key) {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Link targets as a dictionary: an id to its display text.
fn link_values(items: &[Value]) -> Map<String, Value> {
    items
        .iter()
        .filter_map(|item| match item {
            Value::Object(o) => {
                let key =
                    ["Id", "Identifier"].iter().find_map(|k| get_ci(o, k).and_then(scalar_text))?;
                let shown = ["DisplayName", "InternalDisplayName", "Identifier", "Id"]
                    .iter()
                    .find_map(|k| get_ci(o, k).and_then(scalar_text))
                    .unwrap_or_else(|| key.clone());
                Some((key, Value::String(shown)))
            }
            scalar => scalar_text(scalar).map(|text| (text.clone(), Value::String(text))),
        })
        .collect()
}

/// The words of a text on one line, separated by single spaces.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    line
}

/// Block helpers of Handlebars itself and of this module; any other `{{#name}}` is a Mustache
/// section.
const BLOCK_HELPERS: &[&str] = &["each", "if", "unless", "with", "lookup", "ifCond", "section"];

/// Rewrites Identity Manager's template dialect into plain Handlebars:
/// `{{#Path.GetEnumerator}}…{{/Path.GetEnumerator}}` becomes
/// `{{#each (GetEnumerator Path)}}…{{/each}}`, and a Mustache section `{{#Name}}…{{/Name}}`
/// becomes `{{#section Name}}…{{/section}}`.
fn rewrite_dialect(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    // For each open block: the closing tag it was rewritten to, if it was.
    let mut open: Vec<Option<&'static str>> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let original = &rest[start..start + len + 2];
        let tag = rest[start + 2..start + len].trim();
        rest = &rest[start + len + 2..];

        if let Some(body) = tag.strip_prefix('#') {
            let body = body.trim();
            let single_path = !body.is_empty() && !body.contains(char::is_whitespace);
            if let Some(path) = body.strip_suffix(".GetEnumerator").filter(|_| single_path) {
                out.push_str(&format!("{{{{#each (GetEnumerator {path})}}}}"));
                open.push(Some("{{/each}}"));
            } else if single_path && !BLOCK_HELPERS.contains(&body) && !body.starts_with('>') {
                out.push_str(&format!("{{{{#section {body}}}}}"));
                open.push(Some("{{/section}}"));
            } else {
                out.push_str(original);
                open.push(None);
            }
        } else if tag.starts_with('/') {
            match open.pop().flatten() {
                Some(close) => out.push_str(close),
                None => out.push_str(original),
            }
        } else {
            out.push_str(original);
        }
    }
    out.push_str(rest);
    out
}

/// A Mustache section: a list renders once per item with the item as context, an object
/// renders once inside it, any other truthy value renders once in place, and a falsy value
/// (false, empty, missing) renders the `{{else}}` part.
struct Section;

impl HelperDef for Section {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h.param(0).map(|p| p.value().clone()).unwrap_or(Value::Null);
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(_) | Value::Bool(true) | Value::Number(_) => true,
        };
        let (Some(template), true) = (h.template(), truthy) else {
            return match h.inverse() {
                Some(inverse) => inverse.render(registry, ctx, rc, out),
                None => Ok(()),
            };
        };
        let scopes: Vec<Value> = match value {
            Value::Array(items) => items,
            Value::Object(_) => vec![value],
            _ => return template.render(registry, ctx, rc, out),
        };
        for scope in scopes {
            let mut block = BlockContext::new();
            block.set_base_value(scope);
            rc.push_block(block);
            let rendered = template.render(registry, ctx, rc, out);
            rc.pop_block();
            rendered?;
        }
        Ok(())
    }
}

// `GetEnumerator x`: a dictionary as a list of `{Key, Value}` items; anything else as nothing.
handlebars_helper!(enumerate_helper: |value: Json| Value::Array(enumerate(Some(value))));

fn enumerate(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Object(map)) => {
            map.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect()
        }
        _ => Vec::new(),
    }
}

/// `{{#ifCond lhs 'op' rhs}}…{{else}}…{{/ifCond}}` with `==`, `!=`, `<`, `>`, `<=`, `>=`.
/// Both sides are compared as numbers when both read as numbers, otherwise as text.
struct IfCond;

impl HelperDef for IfCond {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let param = |i: usize| h.param(i).map(|p| p.value().clone()).unwrap_or(Value::Null);
        let op = param(1);
        let op = op.as_str().ok_or_else(|| {
            RenderErrorReason::ParamTypeMismatchForName(
                "ifCond",
                "operator".into(),
                "string".into(),
            )
        })?;
        let holds = compare(&param(0), op, &param(2))
            .ok_or_else(|| RenderErrorReason::Other(format!("ifCond: unknown operator {op:?}")))?;
        let branch = if holds { h.template() } else { h.inverse() };
        match branch {
            Some(t) => t.render(registry, ctx, rc, out),
            None => Ok(()),
        }
    }
}

fn compare(lhs: &Value, op: &str, rhs: &Value) -> Option<bool> {
    let text = |v: &Value| scalar_text(v).unwrap_or_default();
    let (l, r) = (text(lhs), text(rhs));
    let ordering = match (l.trim().parse::<f64>(), r.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b)?,
        _ => l.cmp(&r),
    };
    use std::cmp::Ordering::*;
    Some(match op {
        "==" => ordering == Equal,
        "!=" => ordering != Equal,
        "<" => ordering == Less,
        ">" => ordering == Greater,
        "<=" => ordering != Greater,
        ">=" => ordering != Less,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderFile;

    /// Identity Manager's documented template example, line for line.
    const DOCUMENTED_TEMPLATE: &str = "\
Please create a resource \"{{ResourceType}}\" for user {{Username}}.
**For more information on the user, see: {{UsercubeProfileLink}}**
{{#ifCond ProvisioningOrder.ChangeType '==' 'Deleted'}}
  To delete the account, please contact the IT team.
{{/ifCond}}
{{#each ProvisioningOrder.Changes}}
  This is a change: {{this}}
{{/each}}
The resource must have the following values:
{{#Entity.GetEnumerator}}
\t- {{Key}}: {{Value}}
{{/Entity.GetEnumerator}}
{{#DisplayAdd}}
Add the following links:
{{/DisplayAdd}}
{{#AddedLinkedEntities}}
\t- {{Name}}
{{#Values.GetEnumerator}}
\t\t- {{Value}}: {{Key}}
{{/Values.GetEnumerator}}
{{/AddedLinkedEntities}}
";

    const ORDER: &str = r#"{"ProvisioningOrdersList": [{
        "AssignedResourceTypeId": "3930001",
        "ChangeType": "Added",
        "Owner": {"Id": "21511", "InternalDisplayName": "007 - Bond James"},
        "ResourceType": {"Id": "-41", "Identifier": "Badge_User_NominativeUser",
                         "SourceEntityType": {"Id": "51", "Identifier": "Directory_User"}},
        "Changes": {"login": "jbond", "mail": "james.bond@example.com",
                    "groups": {"Added": [{"Id": "12", "DisplayName": "Badge readers"}, "Lobby"]}},
        "Resource": {}
    }]}"#;

    fn order(text: &str) -> ProvisioningOrder {
        OrderFile::parse("orders.json", text).unwrap().entries.remove(0).order.unwrap()
    }

    fn options() -> TemplateOptions {
        TemplateOptions {
            html_escape: false,
            profile_link: Some("https://im.example.com/#/resources/{OwnerType}/{OwnerId}".into()),
        }
    }

    #[test]
    fn documented_example_renders_as_a_reader_expects() {
        let source = TemplateSource { name: "Description.txt", text: DOCUMENTED_TEMPLATE };
        let templates = TicketTemplates::compile(None, Some(source), options()).unwrap();
        let rendered = templates.render(&order(ORDER)).unwrap();
        assert_eq!(
            rendered.description,
            "\
Please create a resource \"Badge_User_NominativeUser\" for user 007 - Bond James.
**For more information on the user, see: https://im.example.com/#/resources/Directory_User/21511**
  This is a change: jbond
  This is a change: james.bond@example.com
  This is a change: [object]
The resource must have the following values:
\t- login: jbond
\t- mail: james.bond@example.com
Add the following links:
\t- groups
\t\t- Badge readers: 12
\t\t- Lobby: Lobby"
        );
        assert_eq!(rendered.title, "Added Badge_User_NominativeUser for 007 - Bond James");
    }

    #[test]
    fn if_cond_takes_the_else_branch_and_compares_numbers_as_numbers() {
        let text = "{{#ifCond ProvisioningOrder.ChangeType '==' 'Deleted'}}delete{{else}}keep{{/ifCond}} \
                    {{#ifCond ProvisioningOrder.Changes.level '>' '9'}}big{{else}}small{{/ifCond}} \
                    {{#ifCond ProvisioningOrder.Changes.level '!=' 10}}ne{{else}}eq{{/ifCond}}";
        let source = TemplateSource { name: "t.txt", text };
        let templates = TicketTemplates::compile(Some(source), None, options()).unwrap();
        let with_level = ORDER.replace(r#""login": "jbond""#, r#""level": 10"#);
        assert_eq!(templates.render(&order(&with_level)).unwrap().title, "keep big eq");
    }

    #[test]
    fn each_yields_this_for_every_change_value() {
        let text = "{{#each ProvisioningOrder.Changes}}{{#ifCond this '==' 'jbond'}}[{{this}}]{{/ifCond}}{{/each}}";
        let templates =
            TicketTemplates::compile(Some(TemplateSource { name: "t", text }), None, options())
                .unwrap();
        assert_eq!(templates.render(&order(ORDER)).unwrap().title, "[jbond]");
    }

    #[test]
    fn each_over_nothing_renders_its_else() {
        let text = "{{#each ProvisioningOrder.Resource}}{{@key}}{{else}}no resource yet{{/each}}";
        let templates =
            TicketTemplates::compile(Some(TemplateSource { name: "t", text }), None, options())
                .unwrap();
        assert_eq!(templates.render(&order(ORDER)).unwrap().title, "no resource yet");
    }

    #[test]
    fn values_are_not_html_escaped_unless_asked() {
        let text = "{{ProvisioningOrder.Changes.login}}";
        let with_markup = ORDER.replace("\"jbond\"", "\"<b>j&b</b>\"");
        let plain =
            TicketTemplates::compile(Some(TemplateSource { name: "t", text }), None, options())
                .unwrap();
        assert_eq!(plain.render(&order(&with_markup)).unwrap().title, "<b>j&b</b>");
        let escaped = TicketTemplates::compile(
            Some(TemplateSource { name: "t", text }),
            None,
            TemplateOptions { html_escape: true, ..options() },
        )
        .unwrap();
        assert_eq!(
            escaped.render(&order(&with_markup)).unwrap().title,
            "&lt;b&gt;j&amp;b&lt;/b&gt;"
        );
    }

    #[test]
    fn a_template_syntax_error_is_one_line_with_its_position() {
        let source = TemplateSource { name: "Title.txt", text: "Hello {{Username" };
        let err = TicketTemplates::compile(Some(source), None, options()).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.starts_with("Title.txt: template does not compile: ") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn broken_template_names_its_file() {
        let source = TemplateSource { name: "conf/Title.txt", text: "{{#each x}}never closed" };
        let err = TicketTemplates::compile(Some(source), None, options()).unwrap_err();
        assert!(err.to_string().starts_with("conf/Title.txt: template does not compile"), "{err}");
    }

    #[test]
    fn unknown_operator_is_a_render_error() {
        let text = "{{#ifCond 1 '=~' 2}}x{{/ifCond}}";
        let templates =
            TicketTemplates::compile(Some(TemplateSource { name: "t", text }), None, options())
                .unwrap();
        let err = templates.render(&order(ORDER)).unwrap_err();
        assert!(err.to_string().contains("unknown operator"), "{err}");
    }

    #[test]
    fn built_in_templates_describe_the_order() {
        let templates = TicketTemplates::compile(None, None, TemplateOptions::default()).unwrap();
        let rendered = templates.render(&order(ORDER)).unwrap();
        assert_eq!(rendered.title, "Added Badge_User_NominativeUser for 007 - Bond James");
        assert!(rendered.description.contains("- login: jbond"), "{}", rendered.description);
        assert!(
            rendered.description.contains("- groups: Badge readers Lobby"),
            "{}",
            rendered.description
        );
    }
}
