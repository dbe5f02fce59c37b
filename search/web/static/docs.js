// Starts Swagger UI on /openapi.json (a file, not an inline script, for the CSP).
"use strict";
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
