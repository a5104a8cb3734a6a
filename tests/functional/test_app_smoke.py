def test_health_answers_with_the_database_up(webapp):
    response = webapp.get("/_health/")
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
