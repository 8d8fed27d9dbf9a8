"""The framework's floor: one `async def` JSON endpoint, no middleware, served by the same uvicorn stack."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"status": "ok"}
