"""schemathesis hooks (SCHEMATHESIS_HOOKS): WHEP offers are text, sent as `application/sdp`."""

import schemathesis

schemathesis.serializer.alias("application/sdp", "text/plain")
