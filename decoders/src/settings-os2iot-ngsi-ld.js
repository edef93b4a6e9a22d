// ---- settings ----
// The JSON-LD @context written into every entity. OS2iot's FIWARE data target sends the
// body as application/ld+json when its "Context" field is empty: the entities must then
// carry their @context, as here. When that field is filled in, OS2iot sends a Link header
// with application/json instead, and NGSI-LD brokers refuse a body that has an @context
// as well: set this to null then.
// The Smart Data Models' own context for dataModel.Environment, as in their examples; the
// NGSI-LD core context is always implied and need not be listed.
var SENSORBRO_NGSI_LD_CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
];
