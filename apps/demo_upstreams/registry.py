"""The demo APIs as the seeding code lists them: one dict per API, its upstream being this app
at demo-upstreams/<path_prefix>. Units are "call", "second" or a custom unit name."""

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent / "specs"
# Descriptions name the gateway by this placeholder; seeding writes the install's address
# there (apps.catalog.demo), so `make run PORT=8301` shows :8301.
GATEWAY_PLACEHOLDER = "{gateway}"

TEXTSTATS_DESCRIPTION = f"""\
Counts and readability for any text: characters, words, sentences, paragraphs, average word
length, reading time at 200 words a minute, the Flesch reading ease score and the ten most
frequent words with English stopwords left out. A second endpoint turns any text into an
ASCII URL slug, accents and all (`Crème brûlée` → `creme-brulee`).

Billing is per **1,000 characters** of text, rounded up: a 2,500-character article costs three
units. The response says how many units a call used.

```bash
curl -X POST {GATEWAY_PLACEHOLDER}/text-stats/analyze \\
  -H "X-Api-Key: $TOLLGATE_KEY" -H "Content-Type: application/json" \\
  -d '{{"text": "The cat sat on the mat. The dog ran!"}}'
```

The counts are heuristics (a sentence ends at `.`, `!`, `?` or `…`), good for dashboards and
editors, not for linguistics. This is a demo API served by Tollgate itself.
"""

FINANCE_DESCRIPTION = f"""\
Three offline validators for payment forms:

- **IBAN**: length per country for the 89 countries of the SWIFT IBAN registry and the
  mod-97 check digits, with the BBAN and a grouped, printable form.
- **Card numbers**: the Luhn checksum and the brand (Visa, Mastercard, American Express,
  Discover, JCB, Diners Club, UnionPay, Maestro). The full number is never echoed back.
- **EU VAT numbers**: the format for each member state. It checks the **format only**, not
  whether the number is registered (ask VIES for that).

```bash
curl {GATEWAY_PLACEHOLDER}/finance-validators/iban/GB82WEST12345698765432 \\
  -H "X-Api-Key: $TOLLGATE_KEY"
```

Spaces and dashes are ignored. An invalid identifier is still a 200 answer, with
`"valid": false` and a `reason`. This is a demo API served by Tollgate itself.
"""

QR_DESCRIPTION = f"""\
QR codes as PNG or SVG images: choose the size, the quiet zone, the error correction level
(L, M, Q, H) and the colours, or a transparent background. Up to 2,000 characters of data.

Use `GET` with query parameters when the URL goes into an `<img>` tag, or `POST` a JSON
body with the same fields.

```bash
curl "{GATEWAY_PLACEHOLDER}/qr-codes/qr?data=https://example.com&format=png&scale=8" \\
  -H "X-Api-Key: $TOLLGATE_KEY" -o qr.png
```

The answer is the image itself. This is a demo API served by Tollgate itself.
"""

LLM_DESCRIPTION = f"""\
A chat completions endpoint in the shape of OpenAI's, to try **streaming** and **per-token
billing** through the gateway. **It is a demo, not an AI model**: the reply is built by rule
from your last message (its word and character counts, then the message with its words in
reverse order), so the same request always gets the same answer.

With `"stream": true` the reply arrives as server-sent events, one word at a time, ending
with `data: [DONE]`. A token is a word; a call is billed its prompt plus reply tokens.

```bash
curl -N -X POST {GATEWAY_PLACEHOLDER}/echo-chat/chat/completions \\
  -H "X-Api-Key: $TOLLGATE_KEY" -H "Content-Type: application/json" \\
  -d '{{"messages": [{{"role": "user", "content": "Hello there"}}], "stream": true}}'
```

Point an OpenAI client library's base URL at `{GATEWAY_PLACEHOLDER}/echo-chat` to try it
from code. This is a demo API served by Tollgate itself.
"""

DEMO_APIS = [
    {
        "key": "textstats",
        "name": "Text Statistics",
        "slug": "text-stats",
        "summary": "Word, sentence and paragraph counts, reading time, Flesch readability, "
        "top words and URL slugs for any text.",
        "description": TEXTSTATS_DESCRIPTION,
        "category": "Text & NLP",
        "tags": ["text", "readability", "word count", "slug", "nlp"],
        "path_prefix": "textstats",
        "spec_file": SPECS_DIR / "textstats.yaml",
        "units": "1k characters",
    },
    {
        "key": "finance",
        "name": "Finance Validators",
        "slug": "finance-validators",
        "summary": "Validate IBANs and payment card numbers, and check EU VAT number formats, "
        "without sending data anywhere.",
        "description": FINANCE_DESCRIPTION,
        "category": "Finance",
        "tags": ["iban", "credit card", "luhn", "vat", "validation"],
        "path_prefix": "finance",
        "spec_file": SPECS_DIR / "finance.yaml",
        "units": "call",
    },
    {
        "key": "qr",
        "name": "QR Code Generator",
        "slug": "qr-codes",
        "summary": "PNG or SVG QR codes with your size, colours and error correction level.",
        "description": QR_DESCRIPTION,
        "category": "Images & Media",
        "tags": ["qr code", "image", "png", "svg", "barcode"],
        "path_prefix": "qr",
        "spec_file": SPECS_DIR / "qr.yaml",
        "units": "call",
    },
    {
        "key": "llm",
        "name": "Echo Chat (streaming demo)",
        "slug": "echo-chat",
        "summary": "An OpenAI-style chat endpoint that streams a rule-based echo word by word. "
        "A demo of streaming and token billing, not a model.",
        "description": LLM_DESCRIPTION,
        "category": "AI & LLM",
        "tags": ["chat", "streaming", "sse", "openai-compatible", "demo"],
        "path_prefix": "llm",
        "spec_file": SPECS_DIR / "llm.yaml",
        "units": "token",
    },
]
