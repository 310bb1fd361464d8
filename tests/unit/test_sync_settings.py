"""REPOCHAT_SYNC_INTERVAL and REPOCHAT_GITHUB_WEBHOOK_SECRET as settings: validated at start, with clear messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidInput
from entrypoints.settings import load_settings


def test_the_interval_becomes_the_schedule_and_unset_or_blank_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().sync_schedule is None
    monkeypatch.setenv("REPOCHAT_SYNC_INTERVAL", " ")
    assert load_settings().sync_schedule is None
    monkeypatch.setenv("REPOCHAT_SYNC_INTERVAL", "30m")
    schedule = load_settings().sync_schedule
    assert schedule is not None and schedule.interval == timedelta(minutes=30)


def test_a_bad_interval_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCHAT_SYNC_INTERVAL", "hourly")
    with pytest.raises(InvalidInput, match=r"REPOCHAT_SYNC_INTERVAL: a sync interval is a whole number .*'hourly'"):
        load_settings()


def test_with_hatchet_the_interval_must_have_a_cron_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPOCHAT_JOB_QUEUE", "hatchet")
    monkeypatch.setenv("REPOCHAT_SYNC_INTERVAL", "45m")
    with pytest.raises(InvalidInput, match=r"REPOCHAT_SYNC_INTERVAL with REPOCHAT_JOB_QUEUE=hatchet: .* not 45m"):
        load_settings()
    monkeypatch.setenv("REPOCHAT_SYNC_INTERVAL", "15m")
    assert load_settings().sync_interval == "15m"


def test_the_webhook_secret_is_kept_secret_and_an_empty_one_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().webhook_secret is None
    monkeypatch.setenv("REPOCHAT_GITHUB_WEBHOOK_SECRET", "")
    assert load_settings().webhook_secret is None
    monkeypatch.setenv("REPOCHAT_GITHUB_WEBHOOK_SECRET", "s3cret")
    settings = load_settings()
    assert settings.webhook_secret == "s3cret" and "s3cret" not in repr(settings)
