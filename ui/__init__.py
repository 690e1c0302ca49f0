"""The Streamlit app (view only; logic lives in search_app)."""
