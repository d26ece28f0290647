"""live_view"""
