// The /docs page: Swagger UI (swagger-ui-dist, served from the npm install) renders the API's
// OpenAPI document. A classic script, after swagger-ui-bundle.js, which defines SwaggerUIBundle.
window.SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // No badge from the public validator: the page loads nothing from other hosts.
  validatorUrl: null,
});
