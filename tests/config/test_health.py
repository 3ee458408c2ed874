import pytest


@pytest.mark.django_db
def test_health_answers_200_when_database_and_broker_answer(client):
    response = client.get("/health/")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_health_answers_503_when_the_broker_is_down(client, monkeypatch):
    from config import health

    def broken() -> str:
        raise ConnectionError("broker down")

    monkeypatch.setattr(health, "_check_broker", broken)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")
