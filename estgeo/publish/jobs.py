"""The job manager of OGC API – Processes (the lägesbild report run as a job): pygeoapi's
TinyDB manager (a file in the workspace, no database server) with bounds.

Found on the public profile: async report jobs were unlimited, their results kept
forever, and `/jobs` listed every job of every client (with links to their reports).
Here:

* at most `server.jobs.max_active` jobs are accepted or running at once (a report takes
  seconds of CPU and hundreds of MB); one more is refused with a 503 and Retry-After —
  synchronous runs go through the same count;
* a finished job and its result are deleted `server.jobs.keep_hours` after it finished
  (checked whenever a job is added or asked for);
* the job list is empty: a client learns its own job from the `Location` header of its
  request and polls `/jobs/{id}`; no one can enumerate the others'. Job ids are random
  (uuid4), not pygeoapi's time-and-host uuid1, which a client could guess from its own.
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from typing import Any

from pygeoapi.process.base import JobNotFoundError, ProcessorExecuteError
from pygeoapi.process.manager.tinydb_ import TinyDBManager

from estgeo.publish import compat

ACTIVE = ("accepted", "running")
MANAGER = "estgeo.publish.jobs.BoundedJobManager"

# Job ids: uuid4, not pygeoapi's guessable uuid1 (estgeo.publish.compat).
compat.random_job_ids()


class TooManyJobs(ProcessorExecuteError):
    """The server runs as many report jobs as it may."""

    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    ogc_exception_code = "ServerBusy"


class BoundedJobManager(TinyDBManager):
    """`TinyDBManager` with a cap on active jobs, expiry and no job listing (module docstring)."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        self.max_active = int(manager_def.get("max_active", 2))
        self.keep = dt.timedelta(hours=float(manager_def.get("keep_hours", 24)))
        self._expiring = False  # delete_job asks get_job, which must not expire again

    def execute_process(self, process_id: str, data_dict: dict, *args: Any, **kwargs: Any) -> Any:
        self.expire()
        with self._db() as db:
            active = sum(1 for job in db.all() if job.get("status") in ACTIVE)
        if active >= self.max_active:
            raise TooManyJobs(user_msg=f"the server is writing {active} reports already (at most {self.max_active}, "
                                       "server.jobs.max_active); try again in a minute")
        return super().execute_process(process_id, data_dict, *args, **kwargs)

    def get_jobs(self, status: Any = None, limit: Any = None, offset: Any = None) -> dict[str, Any]:
        """No one lists the jobs: a client knows its own from its Location header."""
        return {"jobs": [], "numberMatched": 0}

    def get_job(self, job_id: str) -> dict[str, Any]:
        if not self._expiring:
            self.expire()
        return super().get_job(job_id)

    def expire(self, now: dt.datetime | None = None) -> int:
        """Delete finished jobs (and their results) older than `keep_hours`; returns how many."""
        now = now or dt.datetime.now(dt.UTC)
        with self._db() as db:
            jobs = db.all()
        old = [job["identifier"] for job in jobs if job.get("status") not in ACTIVE and _age(job, now) > self.keep]
        self._expiring = True
        try:
            for job_id in old:
                try:
                    self.delete_job(job_id)
                except (JobNotFoundError, FileNotFoundError):
                    pass  # another worker expired it first
        finally:
            self._expiring = False
        return len(old)


def _age(job: dict[str, Any], now: dt.datetime) -> dt.timedelta:
    stamp = job.get("finished") or job.get("updated") or job.get("created")
    try:
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return dt.timedelta(0)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return now - when
