// JSON Schema -> GBNF: a grammar whose language is exactly the JSON texts
// (in the chosen whitespace style) that validate against the schema.
//
//   auto gbnf = schema_to_gbnf(schema);          // compact JSON by default
//   if (!gbnf) print(gbnf.error());              // e.g. "unsupported keyword 'multipleOf' at #/properties/n"
//
// Supported: type (all, arrays of types, `nullable`), enum, const, properties,
// required, additionalProperties (false / schema), items, prefixItems,
// minItems/maxItems, minLength/maxLength, pattern (see regex_to_gbnf.h),
// minimum/maximum/exclusiveMinimum/exclusiveMaximum (integers and decimals),
// anyOf, oneOf (as anyOf: a grammar cannot forbid matching two branches),
// allOf (merged), $ref to local `#/...` pointers incl. $defs/definitions
// (recursion allowed), boolean schemas. Annotations (title, description,
// default, examples, $comment, $schema, $id at the root, deprecated,
// readOnly, writeOnly) are ignored. Any other keyword is an error naming it.
//
// Objects with at most `any_order_limit` named properties accept them in any
// order (each at most once); larger ones in schema order. Numbers under
// bounds are written without exponent.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::agent::grammar {

struct SchemaOptions {
  // GBNF for the space allowed around `{ } [ ] , :`; empty = compact JSON.
  // E.g. "[ \\t\\n]*" or "\" \"?".
  std::string whitespace;
  int any_order_limit = 6;
};

Result<std::string> schema_to_gbnf(const nlohmann::json& schema, const SchemaOptions& opts = {});

}  // namespace rewoo::agent::grammar
