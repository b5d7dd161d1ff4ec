"""Product services: GET /products/, GET /products/<id>/, GET /products/updates/."""

from __future__ import annotations

from flask_restx import Namespace, Resource
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from api.session import get_session
from api import serializers as ser
from api.common import (
    list_params,
    apply_order,
    filter_in,
    filter_time,
    iso,
    not_found,
    paginate,
    param_bool,
    param_int_list,
    param_str_list,
    query_param,
    repeated_param,
    time_range,
)
from api.resources.sources import CONTENT_RESPONSES, FILE_ORDER_FIELDS, file_content
from app.models import Job, JobType, ScaleFile, Workspace
from app.specs.job_data import input_file_ids

ns = Namespace("products", path="/products", description="Product files: files produced by jobs")
NAMESPACES = [ns]

ORDER_FIELDS = {
    **FILE_ORDER_FIELDS,
    **{name: getattr(ScaleFile, name) for name in ("is_operational", "is_published", "published", "unpublished")},
    "workspace__name": Workspace.name,
    "job_type__name": JobType.name,
    "job_type__version": JobType.version,
    "job_type__category": JobType.category,
}
PARAMS = {
    **list_params(ORDER_FIELDS),
    "job_type_id": repeated_param("Only products of this job type", "integer"),
    "job_type_name": repeated_param("Only products of job types with this name"),
    "job_type_category": repeated_param("Only products of job types in this category"),
    "is_operational": query_param("Only products of operational (true) or R&D (false) job types", "boolean"),
    "is_published": query_param("Only published (true) or unpublished (false) products", "boolean"),
    "file_name": repeated_param("Only products with this file name"),
}
MAX_ANCESTRY_DEPTH = 50


def product_update(f: ScaleFile) -> dict:
    """The latest change to a product: DELETED, else UNPUBLISHED, else PUBLISHED."""
    if f.is_deleted:
        action, when = "DELETED", f.deleted or f.last_modified
    elif not f.is_published and f.unpublished is not None:
        action, when = "UNPUBLISHED", f.unpublished
    else:
        action, when = "PUBLISHED", f.published or f.created
    return {"action": action, "when": iso(when)}


def source_files_of(session: Session, products: list[ScaleFile]) -> dict[int, list[ScaleFile]]:
    """The source files each product descends from, following job inputs through intermediate products."""
    result: dict[int, list[ScaleFile]] = {}
    for product in products:
        seen_jobs: set[int] = set()
        sources: dict[int, ScaleFile] = {}
        frontier = {product.job_id} - {None}
        for _ in range(MAX_ANCESTRY_DEPTH):
            frontier -= seen_jobs
            if not frontier:
                break
            seen_jobs |= frontier
            file_ids = {
                fid
                for job in session.scalars(select(Job).where(Job.id.in_(frontier)))
                for ids in input_file_ids(job.data or {}).values()
                for fid in ids
            }
            frontier = set()
            if not file_ids:
                break
            for f in session.scalars(
                select(ScaleFile).options(joinedload(ScaleFile.workspace)).where(ScaleFile.id.in_(file_ids))
            ):
                if f.file_type == "SOURCE":
                    sources[f.id] = f
                elif f.job_id is not None:
                    frontier.add(f.job_id)
        result[product.id] = [sources[i] for i in sorted(sources)]
    return result


def _products():
    started, ended = time_range()
    stmt = (
        select(ScaleFile)
        .join(Workspace, Workspace.id == ScaleFile.workspace_id)
        .outerjoin(JobType, JobType.id == ScaleFile.job_type_id)
        .options(joinedload(ScaleFile.workspace))
        .where(ScaleFile.file_type == "PRODUCT")
    )
    stmt = filter_time(stmt, ScaleFile.last_modified, started, ended)
    stmt = filter_in(stmt, ScaleFile.job_type_id, param_int_list("job_type_id"))
    stmt = filter_in(stmt, JobType.name, param_str_list("job_type_name"))
    stmt = filter_in(stmt, JobType.category, param_str_list("job_type_category"))
    for name in ("is_operational", "is_published"):
        value = param_bool(name)
        if value is not None:
            stmt = stmt.where(getattr(ScaleFile, name).is_(value))
    stmt = filter_in(stmt, ScaleFile.file_name, param_str_list("file_name"))
    return apply_order(stmt, ORDER_FIELDS, ("last_modified",), tiebreak=ScaleFile.id)


def _product(session: Session, f: ScaleFile) -> dict:
    job_type = session.get(JobType, f.job_type_id) if f.job_type_id is not None else None
    return ser.product_file(f, job_type)


def _with_sources(session: Session, envelope: dict, extra=None) -> dict:
    """Replace the page's ScaleFile rows by their JSON, with the source files they came from."""
    files = envelope["results"]
    sources = source_files_of(session, files)
    envelope["results"] = [
        {
            **_product(session, f),
            **(extra(f) if extra else {}),
            "source_files": [ser.source_file(s) for s in sources[f.id]],
        }
        for f in files
    ]
    return envelope


@ns.route("/")
class ProductList(Resource):
    @ns.doc(params=PARAMS)
    def get(self):
        """Product files, filtered by last_modified within started/ended."""
        session = get_session()
        return paginate(session, _products(), lambda f: _product(session, f))


@ns.route("/updates/")
class ProductUpdates(Resource):
    @ns.doc(params=PARAMS)
    def get(self):
        """Products published, unpublished or deleted within started/ended, with their source files."""
        session = get_session()
        return _with_sources(
            session, paginate(session, _products(), lambda f: f), extra=lambda f: {"update": product_update(f)}
        )


@ns.route("/<int:product_id>/", endpoint="product_details")
class ProductDetails(Resource):
    def get(self, product_id: int):
        """A product file and the source files it came from."""
        session = get_session()
        product = session.get(ScaleFile, product_id)
        if product is None or product.file_type != "PRODUCT":
            raise not_found("Product", product_id)
        return {
            **_product(session, product),
            "source_files": [ser.source_file(s) for s in source_files_of(session, [product])[product.id]],
        }


@ns.route("/<int:product_id>/content/", endpoint="product_content")
class ProductContent(Resource):
    @ns.doc(responses=CONTENT_RESPONSES, produces=["application/octet-stream"])
    def get(self, product_id: int):
        """The product file's bytes, streamed from its workspace."""
        product = get_session().get(ScaleFile, product_id)
        if product is None or product.file_type != "PRODUCT":
            raise not_found("Product", product_id)
        return file_content(product, "Product")
