"""The categories a fresh install starts with (a data migration creates them)."""

DEFAULT_CATEGORIES = [
    ("AI & LLM", "ai-llm", "Chat, completion, embeddings and model endpoints.", "zap"),
    ("Text & NLP", "text-nlp", "Counting, readability, translation and language tools.", "book"),
    ("Finance", "finance", "Payments, validation, rates and financial checks.", "wallet"),
    ("Images & Media", "images-media", "QR codes, image processing and media conversion.", "box"),
    ("Documents & OCR", "documents-ocr", "PDF extraction, OCR and document conversion.", "receipt"),
    ("Data & Enrichment", "data-enrichment", "Lookups, geocoding and company data.", "globe"),
    (
        "Developer tools",
        "developer-tools",
        "Utilities for builders: hashing, formats, tests.",
        "code",
    ),
    ("Communication", "communication", "Email, SMS and notification services.", "mail"),
]
