from tests.support.factories import create_project

def test_smoke(webapp, db_session):
    create_project(db_session, "Foo_Bar", versions=["1.0", "2.0"])
    r = webapp.get("/simple/")
    print(r.headers, r.text)
    r = webapp.get("/simple/foo-bar/")
    print(r.headers, r.text)
    r = webapp.get("/simple/foo-bar/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    print(r.headers, r.text)
    r = webapp.get("/pypi/foo-bar/json")
    print(r.headers, r.text)
