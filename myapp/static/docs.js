// Starts Swagger UI on /docs (myapp/templates/swagger.html). A file of its own, so the
// page's Content-Security-Policy can forbid inline scripts.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Never send the document to swagger.io's online validator.
    validatorUrl: null,
  });
});
