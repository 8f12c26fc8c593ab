import pytest

pytestmark = pytest.mark.urls("tests.demo_upstreams.urls")

ANALYZE = "/demo-upstreams/textstats/analyze"
SLUGIFY = "/demo-upstreams/textstats/slugify"
PARAGRAPH = "The cat sat on the mat. The dog ran!\n\nA bird sang."


def analyze(client, **body):
    return client.post(ANALYZE, body, content_type="application/json")


def slugify(client, **body):
    return client.post(SLUGIFY, body, content_type="application/json")


def test_it_counts_a_known_paragraph(client):
    response = analyze(client, text=PARAGRAPH)

    assert response.status_code == 200
    assert response.json() == {
        "language": "en",
        "characters": 50,
        "characters_excluding_spaces": 38,
        "words": 12,
        "sentences": 3,
        "paragraphs": 2,
        "average_word_length": 2.92,  # 35 letters over 12 words
        "reading_time_seconds": 4,  # 12 words at 200 a minute is 3.6 s, rounded up
        # 206.835 - 1.015 * 12/3 - 84.6 * 12/12: one syllable per word
        "flesch_reading_ease": 118.2,
        "top_words": [
            {"word": word, "count": 1}
            for word in ["cat", "sat", "mat", "dog", "ran", "bird", "sang"]
        ],
        "units": 1,
    }


def test_top_words_leave_out_stopwords_and_rank_by_count(client):
    text = "Tollgate meters calls. Tollgate bills calls. Tollgate pays providers and the rest."

    top_words = analyze(client, text=text).json()["top_words"]

    assert top_words[:2] == [{"word": "tollgate", "count": 3}, {"word": "calls", "count": 2}]
    assert {"the", "and"}.isdisjoint(entry["word"] for entry in top_words)


def test_harder_text_scores_lower_on_flesch(client):
    easy = analyze(client, text="The cat sat. The dog ran. We had fun.").json()
    hard = analyze(
        client,
        text="Institutional interoperability necessitates comprehensive standardisation "
        "considerations, particularly regarding authentication infrastructure.",
    ).json()

    assert easy["flesch_reading_ease"] > 90
    assert hard["flesch_reading_ease"] < 0


def test_decimals_do_not_end_sentences_but_paragraph_breaks_do(client):
    stats = analyze(client, text="Title without a full stop\n\nPi is 3.14 today. Yes!").json()

    assert stats["sentences"] == 3
    assert stats["paragraphs"] == 2


def test_other_languages_get_no_flesch_score_and_keep_all_words(client):
    stats = analyze(client, text="Der Hund und die Katze. Der Hund schläft.", language="de").json()

    assert stats["language"] == "de"
    assert stats["flesch_reading_ease"] is None
    assert stats["top_words"][:2] == [{"word": "der", "count": 2}, {"word": "hund", "count": 2}]


@pytest.mark.parametrize(
    ("characters", "units"), [(1, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3), (100_000, 100)]
)
def test_it_bills_one_unit_per_started_thousand_characters(client, characters, units):
    response = analyze(client, text="a" * characters)

    assert response["X-Tollgate-Units"] == str(units)
    assert response.json()["units"] == units


def test_slugify_transliterates_accents_and_special_letters(client):
    response = slugify(client, text="Crème Brûlée à la carte! Straße, Ærø — don't stop")

    assert response.status_code == 200
    assert response.json() == {
        "slug": "creme-brulee-a-la-carte-strasse-aero-dont-stop",
        "length": 46,
    }
    assert response["X-Tollgate-Units"] == "1"


def test_slugify_cuts_a_long_slug_at_a_word_boundary(client):
    assert slugify(client, text="hello wide world", max_length=12).json()["slug"] == "hello-wide"
    assert slugify(client, text="supercalifragilistic", max_length=5).json()["slug"] == "super"


def test_slugify_refuses_text_with_nothing_to_transliterate(client):
    response = slugify(client, text="你好世界")

    assert response.status_code == 422
    assert response.json()["error"] == "empty_slug"


def test_health_says_ok(client):
    response = client.get("/demo-upstreams/textstats/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "textstats"}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{not json", 400, "invalid_json"),
        ("[1, 2]", 400, "invalid_json"),
        ("{}", 422, "missing_field"),
        ('{"text": ""}', 422, "invalid_field"),
        ('{"text": 42}', 422, "invalid_field"),
        ('{"text": "hi", "language": "English!"}', 422, "invalid_field"),
        ('{"text": "' + "a" * 100_001 + '"}', 413, "payload_too_large"),
    ],
)
def test_analyze_rejects_bad_input(client, body, status, error):
    response = client.post(ANALYZE, body, content_type="application/json")

    payload = response.json()
    assert response.status_code == status
    assert set(payload) == {"error", "detail"} and payload["detail"]
    assert payload["error"] == error


def test_a_body_over_one_megabyte_is_refused_before_parsing(client):
    response = client.post(ANALYZE, "x" * (1024 * 1024 + 1), content_type="application/json")

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"text": "' + "a" * 1001 + '"}', 413),
        ('{"text": "hi", "max_length": 0}', 422),
        ('{"text": "hi", "max_length": true}', 422),
        ("{}", 422),
    ],
)
def test_slugify_rejects_bad_input(client, body, status):
    assert client.post(SLUGIFY, body, content_type="application/json").status_code == status


def test_wrong_method_is_405_with_allow(client):
    response = client.get(ANALYZE)

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/demo-upstreams/textstats/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
