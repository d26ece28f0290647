"""home_assistant"""
