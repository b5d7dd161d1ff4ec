"""The data model. SQLAlchemy 2.0 typed models; portable between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db import utcnow
from app.states import EXE_STATUSES, INGEST_IN_FLIGHT, INGEST_STATUSES, JOB_STATUSES  # noqa: F401 (vocabularies)

INGEST_IN_FLIGHT_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in INGEST_IN_FLIGHT))


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


def _modified() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False, index=True)


ERROR_CATEGORIES = ("SYSTEM", "ALGORITHM", "DATA")
TRIGGER_TYPES = ("INGEST", "PARSE", "CLOCK")


class Error(Base):
    __tablename__ = "error"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[Optional[str]] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(String(250))
    category: Mapped[str] = mapped_column(String(50), default="SYSTEM")
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()


class TriggerRule(Base):
    __tablename__ = "trigger_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(50), index=True)
    name: Mapped[Optional[str]] = mapped_column(String(50))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created: Mapped[datetime] = _created()
    archived: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()


class TriggerEvent(Base):
    __tablename__ = "trigger_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(50), index=True)
    rule_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trigger_rule.id"), index=True)
    description: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    rule: Mapped[Optional[TriggerRule]] = relationship()


class JobType(Base):
    __tablename__ = "job_type"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), index=True)
    version: Mapped[str] = mapped_column(String(50))
    title: Mapped[Optional[str]] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(String(500))
    category: Mapped[Optional[str]] = mapped_column(String(50), index=True)
    author_name: Mapped[Optional[str]] = mapped_column(String(50))
    author_url: Mapped[Optional[str]] = mapped_column(String(200))
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    is_long_running: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_operational: Mapped[bool] = mapped_column(Boolean, default=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_cleanup: Mapped[bool] = mapped_column(Boolean, default=False)
    uses_docker: Mapped[bool] = mapped_column(Boolean, default=False)
    docker_privileged: Mapped[bool] = mapped_column(Boolean, default=False)
    docker_image: Mapped[Optional[str]] = mapped_column(String(500))
    interface: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision_num: Mapped[int] = mapped_column(Integer, default=1)
    trigger_rule_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trigger_rule.id"))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    max_scheduled: Mapped[Optional[int]] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer, default=1800)
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    cpus_required: Mapped[float] = mapped_column(Float, default=1.0)
    mem_required: Mapped[float] = mapped_column(Float, default=64.0)
    disk_out_const_required: Mapped[float] = mapped_column(Float, default=64.0)
    disk_out_mult_required: Mapped[float] = mapped_column(Float, default=0.0)
    icon_code: Mapped[Optional[str]] = mapped_column(String(20))
    created: Mapped[datetime] = _created()
    archived: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    paused: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()
    trigger_rule: Mapped[Optional[TriggerRule]] = relationship()


class JobTypeRevision(Base):
    __tablename__ = "job_type_revision"
    __table_args__ = (UniqueConstraint("job_type_id", "revision_num"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_type_id: Mapped[int] = mapped_column(ForeignKey("job_type.id"), index=True)
    revision_num: Mapped[int] = mapped_column(Integer)
    interface: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = _created()
    job_type: Mapped[JobType] = relationship()


class Node(Base):
    __tablename__ = "node"
    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(250), unique=True)
    port: Mapped[int] = mapped_column(Integer, default=5051)
    slave_id: Mapped[Optional[str]] = mapped_column(String(250), index=True)
    pause_reason: Mapped[Optional[str]] = mapped_column(String(250))
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_paused_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_offer: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = _created()
    archived: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()


class Workspace(Base):
    __tablename__ = "workspace"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[Optional[str]] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(String(500))
    base_url: Mapped[Optional[str]] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    json_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    used_size: Mapped[Optional[int]] = mapped_column(BigInteger)
    total_size: Mapped[Optional[int]] = mapped_column(BigInteger)
    created: Mapped[datetime] = _created()
    archived: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()


class RecipeType(Base):
    __tablename__ = "recipe_type"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), index=True)
    version: Mapped[str] = mapped_column(String(50))
    title: Mapped[Optional[str]] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision_num: Mapped[int] = mapped_column(Integer, default=1)
    trigger_rule_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trigger_rule.id"))
    created: Mapped[datetime] = _created()
    archived: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()
    trigger_rule: Mapped[Optional[TriggerRule]] = relationship()


class RecipeTypeRevision(Base):
    __tablename__ = "recipe_type_revision"
    __table_args__ = (UniqueConstraint("recipe_type_id", "revision_num"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_type_id: Mapped[int] = mapped_column(ForeignKey("recipe_type.id"), index=True)
    revision_num: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = _created()
    recipe_type: Mapped[RecipeType] = relationship()


class Recipe(Base):
    __tablename__ = "recipe"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_type_id: Mapped[int] = mapped_column(ForeignKey("recipe_type.id"), index=True)
    recipe_type_rev_id: Mapped[int] = mapped_column(ForeignKey("recipe_type_revision.id"))
    event_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trigger_event.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = _created()
    completed: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()
    recipe_type: Mapped[RecipeType] = relationship()
    recipe_type_rev: Mapped[RecipeTypeRevision] = relationship()
    event: Mapped[Optional[TriggerEvent]] = relationship()
    recipe_jobs: Mapped[list["RecipeJob"]] = relationship(back_populates="recipe", order_by="RecipeJob.id")


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        # The queue: queued jobs by priority then queued time.
        Index("ix_job_queue", "status", "priority", "queued"),
        Index("ix_job_status_modified", "status", "last_modified"),
        Index("ix_job_type_modified", "job_type_id", "last_modified"),
        # Job lists filtered by type and status (the UI's usual query): covering COUNT, ordered page.
        Index("ix_job_type_status_modified", "job_type_id", "status", "last_modified"),
        Index("ix_job_last_status_change", "last_status_change"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job_type_id: Mapped[int] = mapped_column(ForeignKey("job_type.id"))
    job_type_rev_id: Mapped[int] = mapped_column(ForeignKey("job_type_revision.id"))
    event_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trigger_event.id"))
    error_id: Mapped[Optional[int]] = mapped_column(ForeignKey("error.id"))
    status: Mapped[str] = mapped_column(String(50), default="PENDING")
    priority: Mapped[int] = mapped_column(Integer, default=100)
    num_exes: Mapped[int] = mapped_column(Integer, default=0)
    timeout: Mapped[int] = mapped_column(Integer, default=1800)
    max_tries: Mapped[int] = mapped_column(Integer, default=3)
    cpus_required: Mapped[float] = mapped_column(Float, default=1.0)
    mem_required: Mapped[float] = mapped_column(Float, default=64.0)
    disk_in_required: Mapped[float] = mapped_column(Float, default=0.0)
    disk_out_required: Mapped[float] = mapped_column(Float, default=0.0)
    data: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    results: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    created: Mapped[datetime] = _created()
    queued: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ended: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_status_change: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()
    job_type: Mapped[JobType] = relationship()
    job_type_rev: Mapped[JobTypeRevision] = relationship()
    event: Mapped[Optional[TriggerEvent]] = relationship()
    error: Mapped[Optional[Error]] = relationship()


class SchedulingReason(Base):
    """Why the scheduler's latest pass left a queued job queued (GET /jobs/<id>/ ``scheduling``).

    Written by the scheduler in batches, only when a job's reason changes; a row is current only
    while its job is QUEUED and ``updated >= job.queued`` (a requeued job's old row is stale).
    """

    __tablename__ = "scheduling_reason"
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)


class RecipeJob(Base):
    __tablename__ = "recipe_job"
    __table_args__ = (UniqueConstraint("recipe_id", "job_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    recipe_id: Mapped[int] = mapped_column(ForeignKey("recipe.id"), index=True)
    job_name: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"), index=True)
    is_original: Mapped[bool] = mapped_column(Boolean, default=True)
    recipe: Mapped[Recipe] = relationship(back_populates="recipe_jobs")
    job: Mapped[Job] = relationship()


class JobExecution(Base):
    __tablename__ = "job_exe"
    __table_args__ = (
        Index("ix_job_exe_status_modified", "status", "last_modified"),
        Index("ix_job_exe_node_ended", "node_id", "ended"),
        # The scheduler polls for tasks to kill, and the reconcile for ended tasks not yet finished.
        Index("ix_job_exe_kill", "kill_reason", "task_state"),
        Index("ix_job_exe_task_state", "status", "task_state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"), index=True)
    exe_num: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(50), default="RUNNING")
    error_id: Mapped[Optional[int]] = mapped_column(ForeignKey("error.id"))
    command_arguments: Mapped[Optional[str]] = mapped_column(Text)
    timeout: Mapped[int] = mapped_column(Integer, default=1800)
    node_id: Mapped[Optional[int]] = mapped_column(ForeignKey("node.id"))
    task_id: Mapped[Optional[str]] = mapped_column(String(250), unique=True)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cpus_scheduled: Mapped[float] = mapped_column(Float, default=0.0)
    mem_scheduled: Mapped[float] = mapped_column(Float, default=0.0)
    disk_in_scheduled: Mapped[float] = mapped_column(Float, default=0.0)
    disk_out_scheduled: Mapped[float] = mapped_column(Float, default=0.0)
    disk_total_scheduled: Mapped[float] = mapped_column(Float, default=0.0)
    requires_cleanup: Mapped[bool] = mapped_column(Boolean, default=False)
    pre_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    pre_completed: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    pre_exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    job_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    job_completed: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    job_exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    post_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    post_completed: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    post_exit_code: Mapped[Optional[int]] = mapped_column(Integer)
    # Final Mesos task state as reported by the scheduler (TASK_FINISHED, TASK_FAILED...);
    # set before the post step runs so a lost message can be repaired from the database.
    task_state: Mapped[Optional[str]] = mapped_column(String(50))
    task_message: Mapped[Optional[str]] = mapped_column(Text)
    task_reason: Mapped[Optional[str]] = mapped_column(String(80))  # Mesos TaskStatus.reason of the end
    task_source: Mapped[Optional[str]] = mapped_column(String(40))  # who reported it: master, agent, executor
    # Why the scheduler killed the task: "canceled", "timeout" or "vacate" (vacate requeues without spending a try).
    kill_reason: Mapped[Optional[str]] = mapped_column(String(50))
    results_manifest: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    results: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # Where the task's sandbox is: its agent (id and HTTP endpoint), the framework and the run's container
    # id; the logs are paths on that agent, read through its /files/read.
    agent_id: Mapped[Optional[str]] = mapped_column(String(250))
    agent_url: Mapped[Optional[str]] = mapped_column(String(500))
    framework_id: Mapped[Optional[str]] = mapped_column(String(250))
    container_id: Mapped[Optional[str]] = mapped_column(String(250))
    stdout_path: Mapped[Optional[str]] = mapped_column(String(1000))
    stderr_path: Mapped[Optional[str]] = mapped_column(String(1000))
    # A system process (Strike, the clock; no Mesos task) still runs this execution as of this time.
    heartbeat: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = _created()
    queued: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ended: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_modified: Mapped[datetime] = _modified()
    job: Mapped[Job] = relationship()
    node: Mapped[Optional[Node]] = relationship()
    error: Mapped[Optional[Error]] = relationship()


class ScaleFile(Base):
    """Source files (ingested) and product files (job outputs) share one table, told apart by file_type."""

    __tablename__ = "scale_file"
    __table_args__ = (
        Index("ix_scale_file_type_modified", "file_type", "last_modified"),
        Index("ix_scale_file_name", "file_name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    file_type: Mapped[str] = mapped_column(String(50), default="SOURCE")
    file_name: Mapped[str] = mapped_column(String(250))
    media_type: Mapped[Optional[str]] = mapped_column(String(250))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    data_type: Mapped[Optional[str]] = mapped_column(String(1000))
    file_path: Mapped[Optional[str]] = mapped_column(String(1000))
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    uuid: Mapped[Optional[str]] = mapped_column(String(32), index=True)
    checksum: Mapped[Optional[str]] = mapped_column(String(128))
    data_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    data_ended: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    geometry: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    center_point: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    meta_data: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    countries: Mapped[Optional[list[Any]]] = mapped_column(JSON)
    # source files
    is_parsed: Mapped[bool] = mapped_column(Boolean, default=False)
    parsed: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # product files
    job_type_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_type.id"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job.id"), index=True)
    job_exe_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_exe.id"))
    is_operational: Mapped[bool] = mapped_column(Boolean, default=True)
    is_published: Mapped[bool] = mapped_column(Boolean, default=False)
    has_been_published: Mapped[bool] = mapped_column(Boolean, default=False)
    is_superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    unpublished: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    deleted: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()
    workspace: Mapped[Workspace] = relationship()


class Strike(Base):
    __tablename__ = "strike"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[Optional[str]] = mapped_column(String(50))
    description: Mapped[Optional[str]] = mapped_column(String(500))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job.id"))
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()


class Ingest(Base):
    __tablename__ = "ingest"
    __table_args__ = (
        # Every arrival of a file keeps its own row (a duplicate beside the ingested original); only one
        # arrival of a name is in flight at a time in a Strike.
        Index(
            "uq_ingest_in_flight",
            "strike_id",
            "file_name",
            unique=True,
            sqlite_where=text(INGEST_IN_FLIGHT_SQL),
            postgresql_where=text(INGEST_IN_FLIGHT_SQL),
        ),
        Index("ix_ingest_strike_name", "strike_id", "file_name"),
        Index("ix_ingest_status_modified", "status", "last_modified"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(250))
    strike_id: Mapped[Optional[int]] = mapped_column(ForeignKey("strike.id"))  # indexed with file_name
    status: Mapped[str] = mapped_column(String(50), default="TRANSFERRING")
    bytes_transferred: Mapped[Optional[int]] = mapped_column(BigInteger)
    transfer_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    transfer_ended: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    media_type: Mapped[Optional[str]] = mapped_column(String(250))
    file_size: Mapped[Optional[int]] = mapped_column(BigInteger)
    data_type: Mapped[Optional[str]] = mapped_column(String(1000))
    file_path: Mapped[Optional[str]] = mapped_column(String(1000))
    workspace_id: Mapped[Optional[int]] = mapped_column(ForeignKey("workspace.id"))
    ingest_path: Mapped[Optional[str]] = mapped_column(String(1000))
    checksum: Mapped[Optional[str]] = mapped_column(String(128))
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job.id"))
    source_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("scale_file.id"))
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    ingest_started: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ingest_ended: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, index=True)
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()
    strike: Mapped[Optional[Strike]] = relationship()
    workspace: Mapped[Optional[Workspace]] = relationship()
    source_file: Mapped[Optional[ScaleFile]] = relationship()


class Scheduler(Base):
    """The single scheduler row (id 1)."""

    __tablename__ = "scheduler"
    id: Mapped[int] = mapped_column(primary_key=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    num_message_handlers: Mapped[int] = mapped_column(Integer, default=2)
    system_logging_level: Mapped[str] = mapped_column(String(10), default="INFO")
    queue_mode: Mapped[str] = mapped_column(String(4), default="FIFO")
    auto_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    autoscale_ran: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # claims one autoscale pass
    master_hostname: Mapped[Optional[str]] = mapped_column(String(250))
    master_port: Mapped[Optional[int]] = mapped_column(Integer)
    framework_id: Mapped[Optional[str]] = mapped_column(String(250))
    # Latest status report of the scheduler process (counters, node resources), and when it was written.
    status: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    status_updated: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()


class ResourcePool(Base):
    """A named group of agents (by attribute or hostname pattern) an operator can freeze or drain."""

    __tablename__ = "resource_pool"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    hostname_pattern: Mapped[Optional[str]] = mapped_column(String(250))
    attribute_name: Mapped[Optional[str]] = mapped_column(String(100))
    attribute_value: Mapped[Optional[str]] = mapped_column(String(250))
    state: Mapped[str] = mapped_column(String(20), default="ACTIVE")
    # Autoscaling (app/autoscale/): a pool with a node provider and max_nodes > 0 grows and shrinks
    # between min_nodes and max_nodes with nodes of this shape, when auto mode is on.
    provider: Mapped[Optional[str]] = mapped_column(String(50))
    min_nodes: Mapped[int] = mapped_column(Integer, default=0)
    max_nodes: Mapped[int] = mapped_column(Integer, default=0)
    node_cpus: Mapped[float] = mapped_column(Float, default=0.0)
    node_mem: Mapped[float] = mapped_column(Float, default=0.0)
    node_disk: Mapped[float] = mapped_column(Float, default=0.0)
    created: Mapped[datetime] = _created()
    last_modified: Mapped[datetime] = _modified()


class ScaledNode(Base):
    """A node a provider launched into a pool: LAUNCHING -> RUNNING -> DRAINING -> TERMINATED (or FAILED)."""

    __tablename__ = "scaled_node"
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("resource_pool.id", ondelete="CASCADE"), index=True)
    hostname: Mapped[str] = mapped_column(String(250), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    provider_id: Mapped[Optional[str]] = mapped_column(String(250))  # the provider's name for it (agent id)
    state: Mapped[str] = mapped_column(String(20), default="LAUNCHING")
    launched: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed: Mapped[datetime] = mapped_column(UTCDateTime)
    idle_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class AutoscaleDecision(Base):
    """One decision of the autoscaler or an operator's launch, with its reason (shown in /v6/status/)."""

    __tablename__ = "autoscale_decision"
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[Optional[int]] = mapped_column(ForeignKey("resource_pool.id", ondelete="SET NULL"))
    pool_name: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(20))
    hostnames: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ClusterResources(Base):
    """Snapshot of one agent's resources as last seen by the scheduler."""

    __tablename__ = "cluster_resources"
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id"), unique=True)
    total: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    offered: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    running: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_modified: Mapped[datetime] = _modified()


class JobLoad(Base):
    """Queue depth samples for /load/."""

    __tablename__ = "job_load"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_type_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_type.id"))
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    queued_count: Mapped[int] = mapped_column(Integer, default=0)
    running_count: Mapped[int] = mapped_column(Integer, default=0)
    measured: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MetricsJobType(Base):
    __tablename__ = "metrics_job_type"
    __table_args__ = (UniqueConstraint("job_type_id", "occurred"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_type_id: Mapped[int] = mapped_column(ForeignKey("job_type.id"))
    occurred: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = _created()


class MetricsIngest(Base):
    __tablename__ = "metrics_ingest"
    __table_args__ = (UniqueConstraint("strike_id", "occurred"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    strike_id: Mapped[int] = mapped_column(ForeignKey("strike.id"))
    occurred: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = _created()


class MetricsError(Base):
    __tablename__ = "metrics_error"
    __table_args__ = (UniqueConstraint("error_id", "occurred"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    error_id: Mapped[int] = mapped_column(ForeignKey("error.id"))
    occurred: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = _created()


class ApiToken(Base):
    """A bearer token of the API: only its SHA-256 is stored; the token itself is shown once, at creation."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    revoked: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = _created()


class AuditEntry(Base):
    """One write through the API or the console: who asked, what, when, and how it ended."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    token_name: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    role: Mapped[Optional[str]] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[Optional[str]] = mapped_column(String(250))
    path: Mapped[str] = mapped_column(String(1000))
    object_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    remote_addr: Mapped[Optional[str]] = mapped_column(String(100))
